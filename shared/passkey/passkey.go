// Package passkey holds the WebAuthn ceremonies (W3C Web Authentication
// Level 3) over github.com/go-webauthn/webauthn: a signed-in user
// registers passkeys, lists and removes them (Registration), and anyone
// signs in with one and no username (SignIn: discoverable credentials,
// conditional mediation in the browser). The credential records and the
// single-use challenges live in an auth.PasskeyStore; a sign-in starts its
// session through auth.SessionStart, with the login's rules.
//
// Policy, as the options state it to the browser and the checks enforce
// it: resident keys required (a passkey is discoverable), user
// verification required (the UV flag must be set at registration and at
// every sign-in: WebAuthn L3 §7.1 step 15, §7.2 step 16), attestation
// "none" (no authenticator make or model is checked), the RP ID and the
// origins of the configuration only (§7.1 steps 9 and 13, §7.2 steps 11
// and 15), a challenge answered once within auth.PasskeyChallengeTTL, and
// a signature counter that went back refuses and flags the credential
// (auth.SignCountRegressed).
package passkey

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/authkit/lambda-auth/shared/auth"
)

// Config is the relying party: its RP ID (a registrable domain suffix of
// the origins' hosts, never an IP address: WebAuthn L3 §5.1.3) and the
// exact origins whose ceremonies it accepts.
type Config struct {
	RPID    string
	RPName  string // shown by some authenticators; RPID when empty
	Origins []string
}

// userHandleBytes is the length of a WebAuthn user handle: random, with no
// personal information in it (WebAuthn L3 §14.6.1), 32 bytes (at most 64,
// §5.4.3).
const userHandleBytes = 32

func newWebAuthn(c Config) (*webauthn.WebAuthn, error) {
	if c.RPID == "" || len(c.Origins) == 0 {
		return nil, errors.New("passkeys: an RP ID and at least one origin are required")
	}
	for _, o := range c.Origins {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || u.Path != "" {
			return nil, fmt.Errorf("passkeys: origin %q is not scheme://host[:port]", o)
		}
		host := u.Hostname()
		if host != c.RPID && !strings.HasSuffix(host, "."+c.RPID) {
			// WebAuthn L3 §5.1.3: the RP ID must be the origin's effective
			// domain or a registrable suffix of it; a browser refuses any
			// ceremony otherwise.
			return nil, fmt.Errorf("passkeys: origin %q is not within RP ID %q", o, c.RPID)
		}
	}
	name := c.RPName
	if name == "" {
		name = c.RPID
	}
	req := true
	wa, err := webauthn.New(&webauthn.Config{
		RPID: c.RPID, RPDisplayName: name, RPOrigins: c.Origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			RequireResidentKey: &req, ResidentKey: protocol.ResidentKeyRequirementRequired,
			UserVerification: protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: auth.PasskeyChallengeTTL},
			Registration: webauthn.TimeoutConfig{Timeout: auth.PasskeyChallengeTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	return wa, nil
}

// user is a webauthn.User: the handle, the name the authenticator shows,
// and the credentials an assertion may be checked against.
type user struct {
	handle []byte
	name   string
	creds  []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return u.handle }
func (u *user) WebAuthnName() string                       { return u.name }
func (u *user) WebAuthnDisplayName() string                { return u.name }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// credential is the library's view of a stored credential record.
func credential(p *auth.Passkey) webauthn.Credential {
	transports := make([]protocol.AuthenticatorTransport, len(p.Transports))
	for i, t := range p.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID: p.ID, PublicKey: p.PublicKey, AttestationType: "none", AttestationFormat: p.AttestationFormat,
		Transport: transports,
		Flags: webauthn.CredentialFlags{UserPresent: p.UserPresent, UserVerified: p.UserVerified,
			BackupEligible: p.BackupEligible, BackupState: p.BackupState},
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount,
			CloneWarning: p.CloneWarning, Attachment: protocol.AuthenticatorAttachment(p.Attachment)},
	}
}

// putChallenge stores a ceremony's state under its challenge.
func putChallenge(ctx context.Context, store auth.PasskeyStore, o auth.Options, c auth.PasskeyCeremony, userID string, sd *webauthn.SessionData) error {
	state, err := json.Marshal(sd)
	if err != nil {
		return fmt.Errorf("encode the %s ceremony's state: %w", c, err)
	}
	ch := auth.PasskeyChallenge{Key: auth.PasskeyChallengeKey(sd.Challenge), Ceremony: c, UserID: userID,
		State: state, ExpiresAt: o.Now().Add(auth.PasskeyChallengeTTL)}
	if err := store.PutPasskeyChallenge(ctx, ch); err != nil {
		return fmt.Errorf("%s ceremony: %w", c, errors.Join(auth.ErrUnavailable, err))
	}
	return nil
}

// takeChallenge consumes the challenge the browser's clientDataJSON
// answers (single use: a second answer finds none) and returns the
// ceremony's state.
func takeChallenge(ctx context.Context, store auth.PasskeyStore, o auth.Options, c auth.PasskeyCeremony, userID, challenge string) (webauthn.SessionData, error) {
	var sd webauthn.SessionData
	if challenge == "" {
		return sd, fmt.Errorf("%s: clientDataJSON without a challenge: %w", c, auth.ErrPasskeyRefused)
	}
	ch, err := store.TakePasskeyChallenge(ctx, auth.PasskeyChallengeKey(challenge), c, userID, o.Now())
	if errors.Is(err, auth.ErrChallengeNotFound) {
		return sd, fmt.Errorf("%s: challenge unknown, used, expired or another ceremony's: %w", c, auth.ErrPasskeyRefused)
	}
	if err != nil {
		return sd, fmt.Errorf("%s ceremony: %w", c, errors.Join(auth.ErrUnavailable, err))
	}
	if err := json.Unmarshal(ch.State, &sd); err != nil {
		return sd, fmt.Errorf("decode the %s ceremony's state: %w", c, err)
	}
	return sd, nil
}

// refused wraps an error of the library (a *protocol.Error says what
// failed in Details and DevInfo; neither carries a secret) as a refusal.
func refused(what string, err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %s: %s (%s): %w", what, pe.Type, pe.Details, pe.DevInfo, auth.ErrPasskeyRefused)
	}
	return fmt.Errorf("%s: %v: %w", what, err, auth.ErrPasskeyRefused)
}

func randomHandle() []byte {
	b := make([]byte, userHandleBytes)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return b
}
