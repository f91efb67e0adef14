package app_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/dpopclient"
	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
	"github.com/authkit/lambda-auth/shared/metrics"
)

// The token endpoint's public URLs as the fixtures' requests name them
// (events/login.json, refresh.json: the execute-api domain, $default).
const (
	loginURL   = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/auth/login"
	refreshURL = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/auth/refresh"
)

// dpopClient is a DPoP client (an ES256 key it never sends) that keeps
// every proof it made.
type dpopClient struct {
	*dpopclient.Key
	sent []string
}

func newDPoPClient(t *testing.T) *dpopClient {
	t.Helper()
	k, err := dpopclient.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return &dpopClient{Key: k}
}

// proof is a DPoP proof (RFC 9449 4.2) for method and u at iat, with a
// fresh jti; edit, when given, changes the header and claims before
// signing.
func (c *dpopClient) proof(t *testing.T, method, u string, iat time.Time, edit func(h, claims map[string]any)) string {
	t.Helper()
	p := c.SignEdited(dpopclient.NewClaims(method, u, "", iat), edit)
	c.sent = append(c.sent, p)
	return p
}

// withClaim is a proof edit that sets one claim: a nonce, an ath, a claim
// of the wrong type.
func withClaim(name string, v any) func(h, claims map[string]any) {
	return func(_, claims map[string]any) { claims[name] = v }
}

// withProof adds a DPoP header to req.
func withProof(req apigw.Request, proof string) apigw.Request {
	h := map[string]string{}
	for k, v := range req.Headers {
		h[k] = v
	}
	h["dpop"] = proof
	req.Headers = h
	return req
}

// cnfJKT is the cnf.jkt claim of an access token ("" if none).
func cnfJKT(t *testing.T, access string) string {
	t.Helper()
	c := claimsOf(t, access)
	return c.BoundKey()
}

// loginBody is a login request of a non-browser client (the refresh token
// in the body).
func loginBody(t *testing.T, user, pw string) apigw.Request {
	t.Helper()
	req := loginEvent(t, user, pw)
	delete(req.Headers, "origin")
	b, _ := json.Marshal(map[string]any{"username": user, "password": pw, "refresh_token_in_body": true})
	req.Body = string(b)
	return req
}

// wantTokens checks a 200 token answer of type typ, whose access token is
// bound to jkt ("" for none), and returns it.
func wantTokens(t *testing.T, what string, resp apigw.Response, typ, jkt string) apigw.TokenResponse {
	t.Helper()
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s, want 200", what, resp.StatusCode, resp.Body)
	}
	body := tokenBody(t, resp)
	if body.TokenType != typ || cnfJKT(t, body.AccessToken) != jkt {
		t.Fatalf("%s: token_type %q, cnf.jkt %q; want %q, %q", what, body.TokenType, cnfJKT(t, body.AccessToken), typ, jkt)
	}
	return body
}

// wantRefused checks an error answer's status and code.
func wantRefused(t *testing.T, what string, resp apigw.Response, status int, code string) {
	t.Helper()
	if resp.StatusCode != status || errorCode(t, resp) != code {
		t.Errorf("%s: %d %s, want %d %s", what, resp.StatusCode, resp.Body, status, code)
	}
	if strings.Contains(resp.Body, "access_token") || len(resp.Cookies) != 0 && !strings.Contains(resp.Cookies[0], "Max-Age=0") {
		t.Errorf("%s: a refused request handed out %v %s", what, resp.Cookies, resp.Body)
	}
}

// TestDPoPBoundSession: end to end on DynamoDB Local and local KMS, with
// DPOP_MODE optional (the default). A login with a proof starts a session
// bound to its key (token_type DPoP, cnf.jkt, RFC 9449 5 and 6.1); each
// refresh, JSON or RFC 6749 form, needs a proof of that key; one without,
// or with another key, is refused 400 invalid_dpop_proof, is not reuse,
// rotates nothing, and the same token then works with the proof.
func TestDPoPBoundSession(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "dora", "a long enough password", "read")
	s := newService(t, env)
	c := newDPoPClient(t)
	now := s.clock.Now

	resp := call(t, s.login, withProof(loginBody(t, "dora", "a long enough password"), c.proof(t, "POST", loginURL, now(), nil)))
	body := wantTokens(t, "login with a proof", resp, "DPoP", c.JKT())
	if _, ok := resp.Headers["dpop-nonce"]; ok {
		t.Error("a DPoP-Nonce header while nonces are off")
	}
	refresh := body.RefreshToken
	// Introspection says the token is DPoP-bound and to which key (RFC 9449
	// 6.2), or a resource server relying on it would take it as bearer.
	if in, resp := s.introspection(t, body.AccessToken); resp.StatusCode != 200 || !in.Active ||
		in.TokenType != "DPoP" || in.Cnf == nil || in.Cnf.JKT != c.JKT() || strings.Join(in.AMR, " ") != "pwd" || in.AuthTime == 0 {
		t.Errorf("introspection of a bound token: %d %+v, want DPoP, cnf.jkt %s, amr pwd, auth_time", resp.StatusCode, in, c.JKT())
	}

	// JSON refresh with a proof of the key: bound again.
	resp = call(t, s.refresh, withProof(bodyRefresh(t, refresh), c.proof(t, "POST", refreshURL, now(), nil)))
	refresh = wantTokens(t, "refresh with the proof", resp, "DPoP", c.JKT()).RefreshToken

	// Without a proof, with another key's, with a proof for the login URL:
	// refused, nothing rotated, not reuse.
	other := newDPoPClient(t)
	for name, req := range map[string]apigw.Request{
		"no proof":          bodyRefresh(t, refresh),
		"another key":       withProof(bodyRefresh(t, refresh), other.proof(t, "POST", refreshURL, now(), nil)),
		"form, no proof":    formEvent(t, "refresh-oauth", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}),
		"form, another key": withProof(formEvent(t, "refresh-oauth", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}), other.proof(t, "POST", refreshURL, now(), nil)),
	} {
		wantRefused(t, name, call(t, s.refresh, req), 400, "invalid_dpop_proof")
	}
	if n := s.metrics.Count(metrics.Refresh, map[string]string{"Outcome": "reuse_detected"}); n != 0 {
		t.Errorf("%v refreshes counted as reuse", n)
	}

	// The refused token still works with the proof: the RFC 6749 form.
	resp = call(t, s.refresh, withProof(formEvent(t, "refresh-oauth", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}),
		c.proof(t, "POST", refreshURL, now(), nil)))
	next := wantTokens(t, "form refresh with the proof after the refusals", resp, "DPoP", c.JKT()).RefreshToken
	if next == refresh {
		t.Fatal("not rotated")
	}

	// The token rotated out, without the key: still no reuse (a thief
	// without the key cannot end the session); with the key: reuse.
	s.clock.Advance(time.Minute)
	wantRefused(t, "rotated-out token without a proof", call(t, s.refresh, bodyRefresh(t, refresh)), 400, "invalid_dpop_proof")
	resp = call(t, s.refresh, withProof(bodyRefresh(t, next), c.proof(t, "POST", refreshURL, now(), nil)))
	wantTokens(t, "the current token after a rotated-out one was refused", resp, "DPoP", c.JKT())
	wantRefused(t, "rotated-out token with the proof",
		call(t, s.refresh, withProof(bodyRefresh(t, refresh), c.proof(t, "POST", refreshURL, now(), nil))), 401, "invalid_refresh_token")
	if n := s.metrics.Count(metrics.Refresh, map[string]string{"Outcome": "reuse_detected"}); n != 1 {
		t.Errorf("%v refreshes counted as reuse, want 1 (the one with the key)", n)
	}

	// The refusals are logged with their reason; no proof, refresh token
	// or access token signature is.
	logs := s.logs.String()
	if !strings.Contains(logs, "refresh refused: DPoP binding") {
		t.Error("no log line says why a refresh was refused for its proof")
	}
	secrets := []string{refresh[33:], next[33:], body.AccessToken[strings.LastIndexByte(body.AccessToken, '.')+1:]}
	for _, p := range append(c.sent, other.sent...) {
		secrets = append(secrets, p[strings.LastIndexByte(p, '.')+1:])
	}
	for _, secret := range secrets {
		if strings.Contains(logs, secret) {
			t.Errorf("a proof or token (%.8s...) reached a log line", secret)
		}
	}
}

// TestDPoPBrowserCookie: a browser's login and refresh with the cookie and
// a proof: bound; the cookie refreshed without a proof is refused 400 and
// the cookie is kept (a 401 would clear it and sign the tab out).
func TestDPoPBrowserCookie(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "bea", "a long enough password")
	s := newService(t, env)
	c := newDPoPClient(t)
	resp := call(t, s.login, withProof(loginEvent(t, "bea", "a long enough password"), c.proof(t, "POST", loginURL, s.clock.Now(), nil)))
	wantTokens(t, "browser login with a proof", resp, "DPoP", c.JKT())
	cookie := cookieValue(t, resp, "")
	req := httpEvent(t, "refresh", "REPLACE_WITH_REFRESH_TOKEN", cookie)
	req.Headers["origin"] = "https://app.test.example"
	resp = call(t, s.refresh, req)
	wantRefused(t, "cookie refresh without a proof", resp, 400, "invalid_dpop_proof")
	if len(resp.Cookies) != 0 {
		t.Errorf("the refusal cleared the cookie: %v", resp.Cookies)
	}
	resp = call(t, s.refresh, withProof(req, c.proof(t, "POST", refreshURL, s.clock.Now(), nil)))
	wantTokens(t, "cookie refresh with the proof", resp, "DPoP", c.JKT())
	if cookieValue(t, resp, "") == "" {
		t.Error("no rotated cookie")
	}
}

// TestDPoPProofChecks: each check of RFC 9449 4.3 as the token endpoint
// wires it (the method, its public URL, the window, replay, the
// allow-list), each proof refused 400 invalid_dpop_proof before the
// password is checked; a sound proof then logs in.
func TestDPoPProofChecks(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "pia", "a long enough password")
	s := newService(t, env)
	c := newDPoPClient(t)
	now := s.clock.Now
	replayed := c.proof(t, "POST", loginURL, now(), nil)
	wantTokens(t, "first use of a proof", call(t, s.login, withProof(loginBody(t, "pia", "a long enough password"), replayed)), "DPoP", c.JKT())

	cases := []struct {
		name  string
		proof string
	}{
		{"replayed (11.1)", replayed},
		{"htm GET (step 8)", c.proof(t, "GET", loginURL, now(), nil)},
		{"htu of another endpoint (step 9)", c.proof(t, "POST", refreshURL, now(), nil)},
		{"htu of another host (step 9)", c.proof(t, "POST", "https://evil.example/auth/login", now(), nil)},
		{"htu over http (step 9)", c.proof(t, "POST", "http://abcdef1234.execute-api.us-east-1.amazonaws.com/auth/login", now(), nil)},
		{"iat two minutes old (step 11)", c.proof(t, "POST", loginURL, now().Add(-2*time.Minute), nil)},
		{"iat a minute ahead (step 11)", c.proof(t, "POST", loginURL, now().Add(time.Minute), nil)},
		{"no jti (step 3)", c.proof(t, "POST", loginURL, now(), func(h, cl map[string]any) { delete(cl, "jti") })},
		{"no iat (step 3)", c.proof(t, "POST", loginURL, now(), func(h, cl map[string]any) { delete(cl, "iat") })},
		{"typ jwt (step 4)", c.proof(t, "POST", loginURL, now(), func(h, cl map[string]any) { h["typ"] = "JWT" })},
		{"alg ES384 not allowed (step 5)", c.proof(t, "POST", loginURL, now(), func(h, cl map[string]any) { h["alg"] = "ES384" })},
		{"alg none (step 5)", c.proof(t, "POST", loginURL, now(), func(h, cl map[string]any) { h["alg"] = "none" })},
		{"a private key in jwk (step 7)", c.proof(t, "POST", loginURL, now(), func(h, cl map[string]any) {
			h["jwk"] = c.PrivateJWK()
		})},
		{"signed by another key (step 6)", func() string {
			p := newDPoPClient(t).proof(t, "POST", loginURL, now(), func(h, cl map[string]any) { h["jwk"] = c.JWK() })
			return p
		}()},
		{"two proofs (step 1)", c.proof(t, "POST", loginURL, now(), nil) + "," + c.proof(t, "POST", loginURL, now(), nil)},
		{"not a JWS (step 2)", "not-a-proof"},
		{"a nonce claim that is not a string", c.proof(t, "POST", loginURL, now(), withClaim("nonce", 5))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A wrong password too: the proof is refused first (400, not
			// 401), so a refused proof costs no password check.
			wantRefused(t, tc.name, call(t, s.login, withProof(loginBody(t, "pia", "a wrong password"), tc.proof)), 400, "invalid_dpop_proof")
		})
	}
	// ath is not required at the token endpoint (no access token is sent).
	p := c.proof(t, "POST", loginURL, now(), withClaim("ath", "irrelevant"))
	wantTokens(t, "a proof with an ath", call(t, s.login, withProof(loginBody(t, "pia", "a long enough password"), p)), "DPoP", c.JKT())
	// No proof, DPoP optional: bearer tokens, a bearer session.
	wantTokens(t, "no proof", call(t, s.login, loginBody(t, "pia", "a long enough password")), "Bearer", "")
}

// TestDPoPBearerSessionNotBoundLater: a bearer session refreshed with a
// proof is refused (it is not bound now: auth.checkBinding), 401 in JSON
// and 400 invalid_grant in the form dialect; without the proof it goes on
// as a bearer session.
func TestDPoPBearerSessionNotBoundLater(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "ugo", "a long enough password")
	s := newService(t, env)
	c := newDPoPClient(t)
	refresh := wantTokens(t, "bearer login", call(t, s.login, loginBody(t, "ugo", "a long enough password")), "Bearer", "").RefreshToken
	wantRefused(t, "JSON", call(t, s.refresh, withProof(bodyRefresh(t, refresh), c.proof(t, "POST", refreshURL, s.clock.Now(), nil))), 401, "invalid_refresh_token")
	form := formEvent(t, "refresh-oauth", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	wantRefused(t, "form", call(t, s.refresh, withProof(form, c.proof(t, "POST", refreshURL, s.clock.Now(), nil))), 400, "invalid_grant")
	wantTokens(t, "without the proof", call(t, s.refresh, bodyRefresh(t, refresh)), "Bearer", "")
}

// TestDPoPNonces: DPOP_NONCE=required (RFC 9449 8). A proof without the
// server's nonce, or with a stale one, is answered 400 use_dpop_nonce with
// the nonce to use in DPoP-Nonce; every answer carries the current one;
// the login and refresh functions, separate containers, agree on it (one
// secret derived from the KMS HMAC key).
func TestDPoPNonces(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "noa", "a long enough password")
	env.Set("DPOP_NONCE", "required")
	s := newService(t, env)
	c := newDPoPClient(t)
	now := s.clock.Now

	resp := call(t, s.login, withProof(loginBody(t, "noa", "a long enough password"), c.proof(t, "POST", loginURL, now(), nil)))
	wantRefused(t, "login without a nonce", resp, 400, "use_dpop_nonce")
	nonce := resp.Headers["dpop-nonce"]
	if len(nonce) < 22 {
		t.Fatalf("use_dpop_nonce without a DPoP-Nonce header: %v", resp.Headers)
	}
	resp = call(t, s.login, withProof(loginBody(t, "noa", "a long enough password"), c.proof(t, "POST", loginURL, now(), withClaim("nonce", "AAAAAAAAAAAAAAAAAAAAAA"))))
	wantRefused(t, "login with a made-up nonce", resp, 400, "use_dpop_nonce")

	resp = call(t, s.login, withProof(loginBody(t, "noa", "a long enough password"), c.proof(t, "POST", loginURL, now(), withClaim("nonce", nonce))))
	refresh := wantTokens(t, "login with the nonce", resp, "DPoP", c.JKT()).RefreshToken
	if resp.Headers["dpop-nonce"] == "" {
		t.Error("a token answer without DPoP-Nonce")
	}

	// The refresh function takes the login function's nonce.
	resp = call(t, s.refresh, withProof(bodyRefresh(t, refresh), c.proof(t, "POST", refreshURL, now(), withClaim("nonce", nonce))))
	refresh = wantTokens(t, "refresh with the login's nonce", resp, "DPoP", c.JKT()).RefreshToken

	// Three minutes on, the nonce is stale: use_dpop_nonce, not a reuse,
	// not a rotation; with the new nonce the same token refreshes.
	s.clock.Advance(3 * time.Minute)
	resp = call(t, s.refresh, withProof(bodyRefresh(t, refresh), c.proof(t, "POST", refreshURL, now(), withClaim("nonce", nonce))))
	wantRefused(t, "refresh with a stale nonce", resp, 400, "use_dpop_nonce")
	fresh := resp.Headers["dpop-nonce"]
	if fresh == "" || fresh == nonce {
		t.Fatalf("stale nonce answered with DPoP-Nonce %q (the stale one: %q)", fresh, nonce)
	}
	resp = call(t, s.refresh, withProof(bodyRefresh(t, refresh), c.proof(t, "POST", refreshURL, now(), withClaim("nonce", fresh))))
	wantTokens(t, "refresh with the fresh nonce", resp, "DPoP", c.JKT())

	// A bearer login needs no nonce (no proof, DPoP optional).
	wantTokens(t, "bearer login", call(t, s.login, loginBody(t, "noa", "a long enough password")), "Bearer", "")
}

// TestDPoPModes: DPOP_MODE required refuses a login without a proof
// before the password (400, even with a wrong one) and a bearer session's
// refresh; off ignores proofs at login (Bearer, no cnf) and leaves DPoP out
// of discovery, which advertises the allow-list otherwise (RFC 9449 5.1).
func TestDPoPModes(t *testing.T) {
	discovery := func(s *service) map[string]any {
		resp := call(t, s.discovery, httpEvent(t, "discovery"))
		var m map[string]any
		if err := json.Unmarshal([]byte(resp.Body), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	t.Run("optional", func(t *testing.T) {
		s := newService(t, testenv.New(t))
		if got, _ := json.Marshal(discovery(s)["dpop_signing_alg_values_supported"]); string(got) != `["ES256"]` {
			t.Errorf("dpop_signing_alg_values_supported %s, want [\"ES256\"]", got)
		}
	})
	t.Run("required", func(t *testing.T) {
		env := testenv.New(t)
		env.CreateUser(t, "rex", "a long enough password")
		env.Set("DPOP_MODE", "optional")
		bearer := newService(t, env)
		refresh := wantTokens(t, "bearer login before the switch", call(t, bearer.login, loginBody(t, "rex", "a long enough password")), "Bearer", "").RefreshToken
		env.Set("DPOP_MODE", "required")
		s := newService(t, env)
		c := newDPoPClient(t)
		wantRefused(t, "login without a proof", call(t, s.login, loginBody(t, "rex", "a wrong password")), 400, "invalid_dpop_proof")
		wantRefused(t, "form refresh without a proof", call(t, s.refresh,
			formEvent(t, "refresh-oauth", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})), 400, "invalid_dpop_proof")
		wantRefused(t, "bearer session with a proof", call(t, s.refresh,
			withProof(bodyRefresh(t, refresh), c.proof(t, "POST", refreshURL, s.clock.Now(), nil))), 401, "invalid_refresh_token")
		wantTokens(t, "login with a proof", call(t, s.login,
			withProof(loginBody(t, "rex", "a long enough password"), c.proof(t, "POST", loginURL, s.clock.Now(), nil))), "DPoP", c.JKT())
	})
	t.Run("off", func(t *testing.T) {
		env := testenv.New(t)
		env.CreateUser(t, "oli", "a long enough password")
		env.Set("DPOP_MODE", "off")
		s := newService(t, env)
		c := newDPoPClient(t)
		wantTokens(t, "login with a proof", call(t, s.login,
			withProof(loginBody(t, "oli", "a long enough password"), c.proof(t, "POST", loginURL, s.clock.Now(), nil))), "Bearer", "")
		if _, ok := discovery(s)["dpop_signing_alg_values_supported"]; ok {
			t.Error("discovery advertises DPoP while it is off")
		}
	})
}
