package apigw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dpop"
)

// DPoP reads the DPoP proofs (RFC 9449) sent to the token endpoint: POST
// /auth/login and POST /auth/refresh, in both its dialects. Build it with
// NewDPoP and hand it to Login and Refresh with WithDPoP.
type DPoP struct {
	mode     auth.DPoPMode
	verifier *dpop.Verifier
	nonces   *dpop.Nonces
	scheme   string
	// publicOrigin: DPoPConfig.PublicOrigin
	publicOrigin string
	now          func() time.Time
	log          *slog.Logger
}

// DPoPConfig configures NewDPoP.
type DPoPConfig struct {
	// Mode is the policy (DPOP_MODE): off, optional or required
	// (auth.DPoPMode).
	Mode auth.DPoPMode
	// Algorithms a proof may be signed with; nil: shared/dpop's default
	// (ES256). Discovery advertises them (DPoP.Algorithms).
	Algorithms []string
	// Nonces, when set, are required in every proof (RFC 9449 8): a proof
	// without a fresh one is answered 400 use_dpop_nonce, and every answer
	// carries the current nonce in a DPoP-Nonce header (8.2).
	Nonces *dpop.Nonces
	// Replay remembers the proofs accepted (RFC 9449 11.1): a
	// dpop.MemoryReplay for one process, or a store the fleet shares.
	Replay dpop.Replay
	// PlainHTTP: the API is served over http (scripts/dev, an http://
	// localhost issuer), so a request's public URL, which a proof's htu
	// names, starts with http:// (API Gateway serves https only).
	PlainHTTP bool
	// PublicOrigin, when set, is the scheme and host clients address the
	// API at (PUBLIC_ORIGIN: a CDN in front of API Gateway), in place of
	// https:// + the event's domain in the URL a proof's htu must name
	// (RFC 9449 4.3 step 9), as the authorizer reads it (PublicURL).
	PublicOrigin string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Logger gets a line per refused proof, with the reason and never the
	// proof (nil: slog.Default()).
	Logger *slog.Logger
}

// NewDPoP builds the token endpoint's proof checking. The verifier checks
// every step of RFC 9449 4.3 but ath: no access token is sent to the token
// endpoint.
func NewDPoP(c DPoPConfig) (*DPoP, error) {
	if c.Replay == nil {
		return nil, errors.New("dpop at the token endpoint: no replay store (RFC 9449 11.1)")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	opts := []dpop.Option{dpop.WithTimeFunc(c.Now), dpop.WithReplay(c.Replay)}
	if c.Algorithms != nil {
		opts = append(opts, dpop.WithAlgorithms(c.Algorithms...))
	}
	if c.Mode == auth.DPoPOff {
		c.Nonces = nil // no new binding: only bound sessions' proofs are checked
	}
	if c.Nonces != nil {
		opts = append(opts, dpop.WithNonces(c.Nonces))
	}
	v, err := dpop.NewVerifier(opts...)
	if err != nil {
		return nil, fmt.Errorf("dpop at the token endpoint: %w", err)
	}
	scheme := "https"
	if c.PlainHTTP {
		scheme = "http"
	}
	return &DPoP{mode: c.Mode, verifier: v, nonces: c.Nonces, scheme: scheme, publicOrigin: c.PublicOrigin, now: c.Now, log: c.Logger}, nil
}

// Algorithms are the algorithms a proof may use, for discovery's
// dpop_signing_alg_values_supported (RFC 9449 5.1).
func (d *DPoP) Algorithms() []string { return d.verifier.Algorithms() }

// proofKey checks the request's DPoP header, if any, and returns the RFC
// 7638 thumbprint of its key ("" without a proof). At login (starting
// true) a proof is ignored when DPoP is off; at refresh it is checked in
// every mode, since a session bound before DPoP was turned off still
// needs a proof of its key (auth.DPoPOff). When DPoP is required, a
// request without a proof is refused here, before any password work.
func (d *DPoP) proofKey(ctx context.Context, req Request, starting bool) (string, error) {
	if d == nil || starting && d.mode == auth.DPoPOff {
		return "", nil
	}
	proof := header(req.Headers, "dpop")
	if proof == "" {
		if d.mode == auth.DPoPRequired {
			return "", invalidProof("a DPoP proof is required: send a DPoP header (RFC 9449 5)")
		}
		return "", nil
	}
	// RFC 9449 4.3 step 9: htu is the URL the client addressed. Two DPoP
	// headers (step 1) reach us joined by a comma, or as an ambiguous
	// header: either is not one compact JWS, and Verify refuses it.
	u, err := HTTPAPIURL(&req, d.origin(req))
	if err != nil {
		return "", badRequest("this request's URL cannot be told, so its DPoP proof cannot be checked")
	}
	p, err := d.verifier.Verify(ctx, proof, dpop.Request{Method: req.RequestContext.HTTP.Method, URL: u})
	if err == nil {
		return p.JKT, nil
	}
	// Verify's errors hold no proof, and attacker-chosen text only clipped.
	d.log.InfoContext(ctx, "DPoP proof refused", "path", req.RawPath, "reason", err.Error())
	switch {
	case errors.Is(err, dpop.ErrUseNonce):
		// RFC 9449 8: use_dpop_nonce, with the nonce to use in the
		// DPoP-Nonce header every answer carries (stamp).
		return "", &requestError{400, "use_dpop_nonce", "the DPoP proof needs the server's nonce: send a new proof with the nonce of the DPoP-Nonce header (RFC 9449 8)"}
	case errors.Is(err, dpop.ErrInvalidProof):
		return "", invalidProof("invalid DPoP proof: " + err.Error())
	}
	// The replay store could not answer: the proof is refused, the
	// request may work later.
	return "", fmt.Errorf("check DPoP proof: %w", errors.Join(auth.ErrUnavailable, err))
}

// origin is what replaces https://domainName in the request's public URL
// ("" when nothing does).
func (d *DPoP) origin(req Request) string {
	if d.publicOrigin != "" {
		return d.publicOrigin
	}
	if d.scheme == "https" {
		return ""
	}
	return d.scheme + "://" + req.RequestContext.DomainName
}

// stamp puts the current nonce on an answer of the token endpoint when
// nonces are required (RFC 9449 8.1, 8.2): on a use_dpop_nonce error, the
// one to use; on any other answer, the one to use next time.
func (d *DPoP) stamp(r *Response) {
	if d == nil || d.nonces == nil {
		return
	}
	if r.Headers == nil {
		r.Headers = map[string]string{}
	}
	r.Headers["dpop-nonce"] = d.nonces.NewNonce(d.now())
}

// invalidProof is the token endpoint's answer to a missing or invalid
// proof: 400 invalid_dpop_proof (RFC 9449 5, 7.1 and 12.2 register it).
func invalidProof(msg string) error { return &requestError{400, "invalid_dpop_proof", msg} }
