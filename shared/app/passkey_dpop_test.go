package app_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
)

// The passkey sign-in as a DPoP token endpoint (RFC 9449 5), as password
// login is: the proof checked before the assertion, the session bound to
// its key.

// passkeyLoginURL is the passkey sign-in's public URL as the fixture's
// request names it (events/passkey-login.json).
const passkeyLoginURL = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/auth/passkey/login"

// signInRequest is the sign-in request carrying assertion (a browser's:
// Origin set, the refresh token in a cookie).
func signInRequest(t *testing.T, assertion []byte) apigw.Request {
	t.Helper()
	req := httpEvent(t, "passkey-login")
	req.Body = string(assertion)
	return req
}

// assertion is the authenticator's answer to fresh sign-in options.
func (r *passkeyRig) assertion(t *testing.T) []byte {
	t.Helper()
	a, err := r.authn.Get(r.signInOptions(t), testenv.Ceremony{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// sessionCount is the number of sessions stored, of every user.
func sessionCount(t *testing.T, env *testenv.Env) int {
	t.Helper()
	out, err := env.DB.Scan(context.Background(), &dynamodb.ScanInput{TableName: &env.Tables.Sessions, ConsistentRead: new(true)})
	if err != nil {
		t.Fatal(err)
	}
	return int(out.Count)
}

// TestPasskeyDPoPBound: DPOP_MODE optional. A passkey sign-in with a proof
// starts a session bound to the proof's key (token_type DPoP, cnf.jkt its
// RFC 7638 thumbprint); its refresh cookie needs a proof of that key (400
// invalid_dpop_proof without one, the cookie kept) and works with it. A
// refused proof (another endpoint's, another key's) is answered 400
// invalid_dpop_proof before the assertion is checked: no session, and the
// challenge stays usable.
func TestPasskeyDPoPBound(t *testing.T) {
	r := newPasskeyRig(t)
	if resp := r.register(t, testenv.Ceremony{}); resp.StatusCode != 201 {
		t.Fatalf("register: %d %s", resp.StatusCode, resp.Body)
	}
	c := newDPoPClient(t)
	now := r.s.clock.Now
	a := r.assertion(t)
	before := sessionCount(t, r.s.env)
	for _, bad := range []struct{ name, proof string }{
		{"a proof for /auth/login (htu, RFC 9449 4.3 step 9)", c.proof(t, "POST", loginURL, now(), nil)},
		{"a proof signed by another key (step 6)", newDPoPClient(t).proof(t, "POST", passkeyLoginURL, now(), func(h, _ map[string]any) { h["jwk"] = c.JWK() })},
		{"not a JWS (step 2)", "not-a-proof"},
	} {
		wantRefused(t, bad.name, call(t, r.s.passkeyIn, withProof(signInRequest(t, a), bad.proof)), 400, "invalid_dpop_proof")
	}
	if n := sessionCount(t, r.s.env); n != before {
		t.Fatalf("refused proofs: %d sessions, %d before", n, before)
	}

	// The same assertion (its challenge untaken) with a sound proof.
	resp := call(t, r.s.passkeyIn, withProof(signInRequest(t, a), c.proof(t, "POST", passkeyLoginURL, now(), nil)))
	body := wantTokens(t, "passkey sign-in with a proof", resp, "DPoP", c.JKT())
	if ok, _ := r.s.authorize(t, body.AccessToken); ok {
		t.Error("the bound access token was allowed as a bearer token")
	}
	cookie := cookieValue(t, resp, "")
	req := r.s.refreshRequest(t, cookie)
	resp = call(t, r.s.refresh, req)
	wantRefused(t, "refresh without a proof", resp, 400, "invalid_dpop_proof")
	if len(resp.Cookies) != 0 {
		t.Errorf("the refusal cleared the cookie: %v", resp.Cookies)
	}
	other := newDPoPClient(t)
	wantRefused(t, "refresh with another key's proof", call(t, r.s.refresh, withProof(req, other.proof(t, "POST", refreshURL, now(), nil))), 400, "invalid_dpop_proof")
	resp = call(t, r.s.refresh, withProof(req, c.proof(t, "POST", refreshURL, now(), nil)))
	wantTokens(t, "refresh with the proof", resp, "DPoP", c.JKT())

	// Without a proof (optional): a bearer session, as before.
	wantTokens(t, "passkey sign-in without a proof", call(t, r.s.passkeyIn, signInRequest(t, r.assertion(t))), "Bearer", "")
}

// TestPasskeyDPoPRequired: DPOP_MODE required. A passkey sign-in without
// a proof is refused as a password login is (400 invalid_dpop_proof), not
// handed a bearer session: no session is stored, and the challenge is not
// taken, so the same assertion then signs in with a proof.
func TestPasskeyDPoPRequired(t *testing.T) {
	r := newPasskeyRig(t) // signed in by password with DPoP optional
	if resp := r.register(t, testenv.Ceremony{}); resp.StatusCode != 201 {
		t.Fatalf("register: %d %s", resp.StatusCode, resp.Body)
	}
	r.s.env.Set("DPOP_MODE", "required")
	r.s = newService(t, r.s.env)
	wantRefused(t, "password login without a proof", call(t, r.s.login, loginBody(t, "pia", "pia's long password")), 400, "invalid_dpop_proof")

	a := r.assertion(t)
	before := sessionCount(t, r.s.env)
	wantRefused(t, "passkey sign-in without a proof", call(t, r.s.passkeyIn, signInRequest(t, a)), 400, "invalid_dpop_proof")
	if n := sessionCount(t, r.s.env); n != before {
		t.Fatalf("a refused sign-in stored a session: %d sessions, %d before", n, before)
	}
	c := newDPoPClient(t)
	resp := call(t, r.s.passkeyIn, withProof(signInRequest(t, a), c.proof(t, "POST", passkeyLoginURL, r.s.clock.Now(), nil)))
	wantTokens(t, "the same assertion with a proof", resp, "DPoP", c.JKT())
	if n := sessionCount(t, r.s.env); n != before+1 {
		t.Errorf("after the sign-in: %d sessions, want %d", n, before+1)
	}
}

// TestPasskeyDPoPNonces: DPOP_NONCE=required (RFC 9449 8). The sign-in
// options carry a nonce, which the passkey-login function accepts (its
// secret derived from the KMS HMAC key, as login's); a proof without one
// is answered 400 use_dpop_nonce and the challenge stays usable; the
// login function's nonce is the passkey-login function's.
func TestPasskeyDPoPNonces(t *testing.T) {
	r := newPasskeyRig(t)
	if resp := r.register(t, testenv.Ceremony{}); resp.StatusCode != 201 {
		t.Fatalf("register: %d %s", resp.StatusCode, resp.Body)
	}
	r.s.env.Set("DPOP_NONCE", "required")
	r.s = newService(t, r.s.env)
	c := newDPoPClient(t)
	now := r.s.clock.Now

	opts := call(t, r.s.passkeyIn, httpEvent(t, "passkey-login-options"))
	nonce := opts.Headers["dpop-nonce"]
	if opts.StatusCode != 200 || len(nonce) < 22 {
		t.Fatalf("sign-in options: %d, DPoP-Nonce %q", opts.StatusCode, nonce)
	}
	a, err := r.authn.Get([]byte(opts.Body), testenv.Ceremony{})
	if err != nil {
		t.Fatal(err)
	}
	resp := call(t, r.s.passkeyIn, withProof(signInRequest(t, a), c.proof(t, "POST", passkeyLoginURL, now(), nil)))
	wantRefused(t, "a proof without a nonce", resp, 400, "use_dpop_nonce")
	if resp.Headers["dpop-nonce"] == "" {
		t.Error("use_dpop_nonce without a DPoP-Nonce header")
	}
	// The login function's nonce (another container) is good here too.
	login := call(t, r.s.login, withProof(loginBody(t, "pia", "pia's long password"), c.proof(t, "POST", loginURL, now(), nil)))
	wantRefused(t, "login without a nonce", login, 400, "use_dpop_nonce")
	if login.Headers["dpop-nonce"] != nonce {
		t.Errorf("login's nonce %q, passkey-login's %q: not one secret", login.Headers["dpop-nonce"], nonce)
	}
	resp = call(t, r.s.passkeyIn, withProof(signInRequest(t, a), c.proof(t, "POST", passkeyLoginURL, now(), withClaim("nonce", nonce))))
	wantTokens(t, "the same assertion with the nonce", resp, "DPoP", c.JKT())
	if resp.Headers["dpop-nonce"] == "" {
		t.Error("a token answer without DPoP-Nonce")
	}
}
