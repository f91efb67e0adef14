package auth

// DPoP (RFC 9449) at the token endpoint: which sessions are bound to a
// key, and the rule a refresh of one follows. Checking the proof itself
// (shared/dpop) is the adapter's work (shared/apigw): it hands the flows
// the RFC 7638 thumbprint of a verified proof's key, or nothing.

import (
	"context"
	"errors"
	"fmt"
)

// DPoPMode is what login and refresh do with DPoP proofs (RFC 9449 section
// 5), a deployment setting (DPOP_MODE). This service has one client
// (CLIENT_ID), a public one, so the setting is that client's policy.
type DPoPMode int

const (
	// DPoPOff: login ignores proofs and starts bearer sessions. A session
	// bound before the setting changed stays bound: its refresh tokens
	// were bound when they were issued (RFC 9449 5), and a switch that
	// unbound them would hand a thief of one what the binding denied him.
	DPoPOff DPoPMode = iota
	// DPoPOptional: a login with a valid proof starts a session bound to
	// its key (token_type DPoP, cnf.jkt); one without, a bearer session.
	DPoPOptional
	// DPoPRequired: login and refresh need a proof; a bearer session
	// started before the setting cannot be refreshed (its user logs in
	// again, with a proof).
	DPoPRequired
)

// ParseDPoPMode reads DPOP_MODE: off, optional or required.
func ParseDPoPMode(s string) (DPoPMode, error) {
	switch s {
	case "off":
		return DPoPOff, nil
	case "optional":
		return DPoPOptional, nil
	case "required":
		return DPoPRequired, nil
	}
	return DPoPOff, fmt.Errorf("DPoP mode %q: want off, optional or required", s)
}

// String is the mode as DPOP_MODE spells it.
func (m DPoPMode) String() string {
	switch m {
	case DPoPOptional:
		return "optional"
	case DPoPRequired:
		return "required"
	}
	return "off"
}

var (
	// ErrInvalidDPoPProof: the session is bound to a key and the request
	// carried no proof, or a proof of another key (RFC 9449 5). Nothing
	// was written: the refresh token is neither rotated nor taken for
	// reuse, so its holder retries with a proof of the right key.
	ErrInvalidDPoPProof = errors.New("DPoP proof missing or not of the key the session is bound to")
	// ErrSessionNotBound comes with ErrInvalidRefreshToken: a bearer
	// session refreshed with a proof (binding it now is refused: see
	// checkBinding), or at all when DPoP is required.
	ErrSessionNotBound = errors.New("the session is not bound to a DPoP key: log in again with a DPoP proof")
)

// RefreshOption tells Refresh about the request, besides the token.
type RefreshOption func(*refreshCall)

type refreshCall struct{ jkt string }

// WithRefreshDPoPKey is the RFC 7638 thumbprint of the key of the verified
// DPoP proof a refresh request carried.
func WithRefreshDPoPKey(jkt string) RefreshOption {
	return func(c *refreshCall) { c.jkt = jkt }
}

// checkBinding is the rule of a refresh under DPoP (RFC 9449 5): the
// session's key (bound, "" for a bearer session), the key of the request's
// proof (proof, "" without one) and the mode decide. It returns nil when
// the refresh may go on (with a bound token when bound is set).
//
//   - A bound session needs a proof of its key, in every mode: its refresh
//     tokens were bound when they were issued, and "the binding MUST be
//     validated when the refresh token is later presented".
//   - A bearer session with a proof is refused (unless DPoP is off, where
//     the proof is ignored), rather than bound now. Binding later would let
//     whoever stole a bearer refresh token bind the session to his own
//     key: the owner's next refresh, with the token the thief rotated out,
//     would then be refused for its missing proof (ErrInvalidDPoPProof,
//     which never counts as reuse) instead of ending the session as reuse
//     (RFC 9700 4.14.2) and the thief with it. Nor does it answer with a
//     bearer token: RFC 9449 5 binds the refresh token of a public client
//     that presents a valid proof. The client logs in again with its proof.
//   - When DPoP is required, a bearer session is refused.
func checkBinding(mode DPoPMode, bound, proof string) error {
	switch {
	case bound != "" && proof == "":
		return fmt.Errorf("%w: the session is bound to key %s and the request has no proof", ErrInvalidDPoPProof, bound)
	case bound != "" && proof != bound:
		return fmt.Errorf("%w: proof key %s, session bound to %s", ErrInvalidDPoPProof, proof, bound)
	case bound != "":
		return nil
	case mode == DPoPRequired:
		return fmt.Errorf("%w: %w (DPoP is required)", ErrInvalidRefreshToken, ErrSessionNotBound)
	case proof != "" && mode != DPoPOff:
		return fmt.Errorf("%w: %w (proof key %s)", ErrInvalidRefreshToken, ErrSessionNotBound, proof)
	}
	return nil
}

// checkDPoP applies checkBinding to a refresh of sess and logs a refusal.
// It writes nothing.
func (f *Refresh) checkDPoP(ctx context.Context, sess *Session, proof string) error {
	err := checkBinding(f.opt.DPoPMode, sess.JKT, proof)
	if err != nil {
		f.log.InfoContext(ctx, "refresh refused: DPoP binding", "sid", sess.ID, "sub", sess.UserID, "reason", err.Error())
	}
	return err
}
