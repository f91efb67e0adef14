package apigw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/dpopclient"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dpop"
)

// newClientKey is a DPoP client's key.
func newClientKey(t testing.TB) *dpopclient.Key {
	t.Helper()
	k, err := dpopclient.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testProof signs a DPoP proof (RFC 9449 4.2) with key for method and u at
// iat, with nonce when not empty; it returns the proof and the key's
// thumbprint.
func testProof(key *dpopclient.Key, method, u string, iat time.Time, nonce string) (string, string) {
	c := dpopclient.NewClaims(method, u, "", iat)
	c.Nonce = nonce
	return key.Sign(c), key.JKT()
}

// tokenRequest is a POST to path on domain (stage $default), with a DPoP
// header when proof is not empty.
func tokenRequest(domain, path, proof string) Request {
	req := Request{RawPath: path, Headers: map[string]string{}}
	req.RequestContext.DomainName, req.RequestContext.Stage, req.RequestContext.HTTP.Method = domain, "$default", "POST"
	if proof != "" {
		req.Headers["dpop"] = proof
	}
	return req
}

// failingReplay is a replay store that cannot answer.
type failingReplay struct{}

func (failingReplay) Seen(context.Context, string, string, time.Time) (bool, error) {
	return false, errors.New("connection reset")
}

func requestCode(err error) string {
	var re *requestError
	if errors.As(err, &re) {
		return fmt.Sprintf("%d %s", re.status, re.code)
	}
	return ""
}

// TestProofKey: how the token endpoint reads a DPoP header in each mode:
// ignored or checked, against which public URL (https on API Gateway,
// http for scripts/dev; the domain the request reached), and what a
// refusal is answered with.
func TestProofKey(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	key := newClientKey(t)
	const api = "abcdef1234.execute-api.us-east-1.amazonaws.com"
	build := func(mode auth.DPoPMode, plain bool, r dpop.Replay) *DPoP {
		if r == nil {
			r = dpop.NewMemoryReplay(100, clock)
		}
		d, err := NewDPoP(DPoPConfig{Mode: mode, Replay: r, PlainHTTP: plain, Now: clock, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	proof, jkt := testProof(key, "POST", "https://"+api+"/auth/refresh", now, "")
	cases := []struct {
		name     string
		d        *DPoP
		req      Request
		starting bool
		wantJKT  string
		wantCode string // "" for no error; "unavailable" for ErrUnavailable
	}{
		{name: "no DPoP configured: the header is ignored", d: nil, req: tokenRequest(api, "/auth/refresh", proof)},
		{name: "off, login: the proof is ignored", d: build(auth.DPoPOff, false, nil), req: tokenRequest(api, "/auth/refresh", proof), starting: true},
		{name: "off, refresh: the proof is checked (a bound session needs it)", d: build(auth.DPoPOff, false, nil), req: tokenRequest(api, "/auth/refresh", proof), wantJKT: jkt},
		{name: "optional, no proof", d: build(auth.DPoPOptional, false, nil), req: tokenRequest(api, "/auth/refresh", "")},
		{name: "required, no proof", d: build(auth.DPoPRequired, false, nil), req: tokenRequest(api, "/auth/refresh", ""), starting: true, wantCode: "400 invalid_dpop_proof"},
		{name: "optional, a sound proof", d: build(auth.DPoPOptional, false, nil), req: tokenRequest(api, "/auth/refresh", proof), wantJKT: jkt},
		{name: "another path than htu's", d: build(auth.DPoPOptional, false, nil), req: tokenRequest(api, "/auth/login", proof), wantCode: "400 invalid_dpop_proof"},
		{name: "another domain than htu's (a custom domain)", d: build(auth.DPoPOptional, false, nil), req: tokenRequest("auth.example.com", "/auth/refresh", proof), wantCode: "400 invalid_dpop_proof"},
		{name: "plain http: htu https is not the URL addressed", d: build(auth.DPoPOptional, true, nil), req: tokenRequest(api, "/auth/refresh", proof), wantCode: "400 invalid_dpop_proof"},
		{name: "a path that is not the event's stage's cannot be told", d: build(auth.DPoPOptional, false, nil),
			req: func() Request {
				r := tokenRequest(api, "/auth/refresh", proof)
				r.RequestContext.Stage = "prod"
				return r
			}(), wantCode: "400 invalid_request"},
		{name: "a replay store that cannot answer: unavailable", d: build(auth.DPoPOptional, false, failingReplay{}), req: tokenRequest(api, "/auth/refresh", proof), wantCode: "unavailable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.d.proofKey(context.Background(), c.req, c.starting)
			code := requestCode(err)
			if errors.Is(err, auth.ErrUnavailable) {
				code = "unavailable"
			}
			if got != c.wantJKT || code != c.wantCode || (c.wantCode == "" && err != nil) {
				t.Errorf("proofKey = %q, %v (%q); want %q, %q", got, err, code, c.wantJKT, c.wantCode)
			}
		})
	}

	t.Run("a custom domain and plain http are the URLs addressed", func(t *testing.T) {
		p, k := testProof(key, "POST", "https://auth.example.com/auth/login", now, "")
		if got, err := build(auth.DPoPOptional, false, nil).proofKey(context.Background(), tokenRequest("auth.example.com", "/auth/login", p), true); err != nil || got != k {
			t.Errorf("custom domain: %q, %v", got, err)
		}
		p, k = testProof(key, "POST", "http://127.0.0.1:3000/auth/login", now, "")
		if got, err := build(auth.DPoPOptional, true, nil).proofKey(context.Background(), tokenRequest("127.0.0.1:3000", "/auth/login", p), true); err != nil || got != k {
			t.Errorf("scripts/dev: %q, %v", got, err)
		}
	})

	t.Run("behind a CDN, PUBLIC_ORIGIN is the URL addressed", func(t *testing.T) {
		d, err := NewDPoP(DPoPConfig{Mode: auth.DPoPOptional, Replay: dpop.NewMemoryReplay(100, clock), PublicOrigin: "https://auth.example.com",
			Now: clock, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		p, k := testProof(key, "POST", "https://auth.example.com/auth/login", now, "")
		if got, err := d.proofKey(context.Background(), tokenRequest(api, "/auth/login", p), true); err != nil || got != k {
			t.Errorf("a proof for the public origin, reaching API Gateway's own domain: %q, %v", got, err)
		}
		p, _ = testProof(key, "POST", "https://"+api+"/auth/login", now, "")
		if _, err := d.proofKey(context.Background(), tokenRequest(api, "/auth/login", p), true); requestCode(err) != "400 invalid_dpop_proof" {
			t.Errorf("a proof for API Gateway's domain behind the CDN: %v, want 400 invalid_dpop_proof", err)
		}
	})

	t.Run("the same proof twice is a replay", func(t *testing.T) {
		d := build(auth.DPoPOptional, false, nil)
		p, _ := testProof(key, "POST", "https://"+api+"/auth/refresh", now, "")
		if _, err := d.proofKey(context.Background(), tokenRequest(api, "/auth/refresh", p), false); err != nil {
			t.Fatal(err)
		}
		_, err := d.proofKey(context.Background(), tokenRequest(api, "/auth/refresh", p), false)
		if requestCode(err) != "400 invalid_dpop_proof" {
			t.Errorf("replayed proof: %v", err)
		}
	})
}

// TestNonceFlow: with nonces required, a proof without the nonce is
// answered use_dpop_nonce, every answer is stamped with the current
// nonce (RFC 9449 8.1, 8.2), and a proof with it is accepted; with DPoP
// off no nonce is required nor sent.
func TestNonceFlow(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	key := newClientKey(t)
	ns, err := dpop.NewNonces(make([]byte, 32), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	const api = "abcdef1234.execute-api.us-east-1.amazonaws.com"
	d, err := NewDPoP(DPoPConfig{Mode: auth.DPoPOptional, Nonces: ns, Replay: dpop.NewMemoryReplay(100, clock), Now: clock, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := testProof(key, "POST", "https://"+api+"/auth/login", now, "")
	_, err = d.proofKey(context.Background(), tokenRequest(api, "/auth/login", p), true)
	if requestCode(err) != "400 use_dpop_nonce" {
		t.Fatalf("no nonce: %v, want 400 use_dpop_nonce", err)
	}
	r := Error(context.Background(), slog.New(slog.DiscardHandler), err)
	d.stamp(&r)
	nonce := r.Headers["dpop-nonce"]
	if r.StatusCode != 400 || nonce != ns.NewNonce(now) {
		t.Fatalf("use_dpop_nonce answer: %d %v", r.StatusCode, r.Headers)
	}
	p, jkt := testProof(key, "POST", "https://"+api+"/auth/login", now, nonce)
	if got, err := d.proofKey(context.Background(), tokenRequest(api, "/auth/login", p), true); err != nil || got != jkt {
		t.Errorf("with the nonce: %q, %v", got, err)
	}

	off, err := NewDPoP(DPoPConfig{Mode: auth.DPoPOff, Nonces: ns, Replay: dpop.NewMemoryReplay(100, clock), Now: clock, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	p, jkt = testProof(key, "POST", "https://"+api+"/auth/refresh", now, "")
	if got, err := off.proofKey(context.Background(), tokenRequest(api, "/auth/refresh", p), false); err != nil || got != jkt {
		t.Errorf("off: a bound session's proof without a nonce: %q, %v", got, err)
	}
	r = JSON(200, struct{}{})
	off.stamp(&r)
	if _, ok := r.Headers["dpop-nonce"]; ok {
		t.Error("off: a DPoP-Nonce header")
	}
	if _, err := NewDPoP(DPoPConfig{Mode: auth.DPoPOptional}); err == nil {
		t.Error("NewDPoP without a replay store accepted")
	}
}

// TestDPoPErrors: the token endpoint's DPoP refusals in both dialects
// (RFC 9449 5: 400 invalid_dpop_proof; a bearer session that cannot be
// bound: the refresh token's own error, 401 or 400 invalid_grant), and
// token_type.
func TestDPoPErrors(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	bound := fmt.Errorf("refresh: %w", auth.ErrInvalidDPoPProof)
	notBound := fmt.Errorf("%w: %w", auth.ErrInvalidRefreshToken, auth.ErrSessionNotBound)
	for _, c := range []struct {
		err             error
		status, oStatus int
		code, oauthCode string
	}{
		{bound, 400, 400, "invalid_dpop_proof", "invalid_dpop_proof"},
		{invalidProof("x"), 400, 400, "invalid_dpop_proof", "invalid_dpop_proof"},
		{notBound, 401, 400, "invalid_refresh_token", "invalid_grant"},
	} {
		var e ErrorBody
		r := Error(ctx, log, c.err)
		json.Unmarshal([]byte(r.Body), &e)
		if r.StatusCode != c.status || e.Error != c.code {
			t.Errorf("%v: %d %s, want %d %s", c.err, r.StatusCode, e.Error, c.status, c.code)
		}
		r = OAuthError(ctx, log, c.err)
		json.Unmarshal([]byte(r.Body), &e)
		if r.StatusCode != c.oStatus || e.Error != c.oauthCode {
			t.Errorf("%v (OAuth): %d %s, want %d %s", c.err, r.StatusCode, e.Error, c.oStatus, c.oauthCode)
		}
	}
	if tokenType(auth.Tokens{JKT: "k"}) != "DPoP" || tokenType(auth.Tokens{}) != "Bearer" {
		t.Error("token_type")
	}
}

// BenchmarkProofKey: what a DPoP proof adds to a login or refresh (the
// public URL, the proof's ES256 check, the replay cache), beside the KMS
// signature and the DynamoDB calls each makes anyway.
func BenchmarkProofKey(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	key := newClientKey(b)
	d, err := NewDPoP(DPoPConfig{Mode: auth.DPoPOptional, Replay: dpop.NewMemoryReplay(1<<20, clock), Now: clock, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	const api = "abcdef1234.execute-api.us-east-1.amazonaws.com"
	reqs := make([]Request, b.N)
	for i := range reqs {
		p, _ := testProof(key, "POST", "https://"+api+"/auth/refresh", now, "")
		reqs[i] = tokenRequest(api, "/auth/refresh", p)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := d.proofKey(context.Background(), reqs[i], false); err != nil {
			b.Fatal(err)
		}
	}
}
