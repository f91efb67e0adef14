package guard_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/dpopclient"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dpop"
	"github.com/authkit/lambda-auth/shared/guard"
	"github.com/authkit/lambda-auth/shared/token"
)

// boundToken is k's token bound to jkt (cnf.jkt, RFC 9449 6.1).
func boundToken(t *testing.T, k exampleKey, jkt string) string {
	t.Helper()
	now := time.Now()
	c := &token.Claims{SessionID: "AAABmzv2hQAAAAAAAAAAAAAAAAAAAAAA", ClientID: "web"}
	c.Issuer, c.Subject, c.ID = "https://auth.example.com", "user-1", "jti-1"
	c.Audience = []string{"https://api.example.com"}
	c.IssuedAt, c.ExpiresAt = token.NumericDate(now), token.NumericDate(now.Add(15*time.Minute))
	if jkt != "" {
		c.Confirmation = &token.Confirmation{JKT: jkt}
	}
	raw, err := token.Issue(context.Background(), k, c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// serveDPoP sends method path with these Authorization and DPoP headers
// (and a Host a client chose) through g's middleware.
func serveDPoP(t *testing.T, g *guard.Guard, method, path, authorization string, proofs ...string) *httptest.ResponseRecorder {
	t.Helper()
	h := g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	req := httptest.NewRequest(method, path, nil)
	req.Host = "evil.example"
	req.Header.Set("X-Forwarded-Host", "evil.example")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestDPoPMiddleware: the Guard's DPoP checks (RFC 9449 7.1, 7.2, 4.3,
// 11.1) for a net/http service: the control rows pass, each other row
// changes one thing and is refused with the challenge and error code the
// RFC names.
func TestDPoPMiddleware(t *testing.T) {
	key := newKey()
	jwks := newJWKSServer(t, key)
	const origin = "https://api.example.com"
	g, err := guard.New(context.Background(), guard.Config{Issuer: "https://auth.example.com", Audience: "https://api.example.com",
		JWKSURL: jwks.URL, Revocations: &lookup{}, MaxLifetime: 15 * time.Minute, PublicOrigin: origin})
	if err != nil {
		t.Fatal(err)
	}
	client, err := dpopclient.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := dpopclient.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	bound, plain := boundToken(t, key, client.JKT()), boundToken(t, key, "")
	now := time.Now()
	proof := func(edit func(*dpopclient.Claims)) string {
		c := dpopclient.NewClaims("GET", origin+"/orders", bound, now)
		if edit != nil {
			edit(&c)
		}
		return client.Sign(c)
	}
	used := proof(nil)
	if rec := serveDPoP(t, g, "GET", "/orders?page=2", "DPoP "+bound, used); rec.Code != 200 {
		t.Fatalf("control: %d %s %q", rec.Code, rec.Body, rec.Header().Get("WWW-Authenticate"))
	}
	rows := []struct {
		name          string
		method, path  string
		authorization string
		proofs        []string
		status        int
		challenge     string
	}{
		{"control: a new proof", "GET", "/orders", "DPoP " + bound, []string{proof(nil)}, 200, ""},
		{"control: a bearer token", "GET", "/orders", "Bearer " + plain, nil, 200, ""},
		{"no Authorization: both schemes offered", "GET", "/orders", "", nil, 401, `DPoP realm="api", algs="ES256"`},
		{"7.2: a bound token as Bearer", "GET", "/orders", "Bearer " + bound, nil, 401, `Bearer realm="api", error="invalid_token"`},
		{"7.1: an unbound token as DPoP", "GET", "/orders", "DPoP " + plain, []string{client.Proof("GET", origin+"/orders", plain, now)}, 401, `DPoP realm="api", algs="ES256", error="invalid_token"`},
		{"7.1: no proof", "GET", "/orders", "DPoP " + bound, nil, 401, `error="invalid_dpop_proof"`},
		{"4.3 step 1: two proofs", "GET", "/orders", "DPoP " + bound, []string{proof(nil), proof(nil)}, 401, `error="invalid_dpop_proof"`},
		{"4.3 step 8: htm GET for a POST", "POST", "/orders", "DPoP " + bound, []string{proof(nil)}, 401, `error="invalid_dpop_proof"`},
		{"4.3 step 9: another path", "GET", "/users", "DPoP " + bound, []string{proof(nil)}, 401, `error="invalid_dpop_proof"`},
		{"4.3 step 9: htu of the Host the client sent", "GET", "/orders", "DPoP " + bound, []string{proof(func(c *dpopclient.Claims) { c.HTU = "https://evil.example/orders" })}, 401, `error="invalid_dpop_proof"`},
		{"4.3 step 11: iat too old", "GET", "/orders", "DPoP " + bound, []string{proof(func(c *dpopclient.Claims) { c.IAT = now.Add(-2 * time.Minute) })}, 401, `error="invalid_dpop_proof"`},
		{"4.3 step 12: ath of another token", "GET", "/orders", "DPoP " + bound, []string{proof(func(c *dpopclient.Claims) { c.ATH = dpopclient.ATH(plain) })}, 401, `error="invalid_dpop_proof"`},
		{"6.1: another key's proof", "GET", "/orders", "DPoP " + bound, []string{other.Proof("GET", origin+"/orders", bound, now)}, 401, `error="invalid_dpop_proof"`},
		{"11.1: a replayed proof", "GET", "/orders", "DPoP " + bound, []string{used}, 401, `error="invalid_dpop_proof"`},
		{"a space too many after the scheme", "GET", "/orders", "DPoP  " + bound, []string{proof(nil)}, 400, `error="invalid_request"`},
	}
	for _, row := range rows {
		rec := serveDPoP(t, g, row.method, row.path, row.authorization, row.proofs...)
		if rec.Code != row.status || !strings.Contains(rec.Header().Get("WWW-Authenticate"), row.challenge) {
			t.Errorf("%s: %d %q %s, want %d with a challenge holding %q", row.name, rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body, row.status, row.challenge)
		}
	}

	// Without PublicOrigin the DPoP scheme is not taken: a bound token
	// works nowhere, a bearer token as before.
	plainGuard, err := guard.New(context.Background(), guard.Config{Issuer: "https://auth.example.com", Audience: "https://api.example.com",
		JWKSURL: jwks.URL, Revocations: &lookup{}, MaxLifetime: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rec := serveDPoP(t, plainGuard, "GET", "/orders", "DPoP "+bound, proof(nil)); rec.Code != 401 {
		t.Errorf("no PublicOrigin: a DPoP request got %d", rec.Code)
	}
	if rec := serveDPoP(t, plainGuard, "GET", "/orders", "Bearer "+bound); rec.Code != 401 {
		t.Errorf("no PublicOrigin: a bound token as Bearer got %d", rec.Code)
	}
	if h := serveDPoP(t, plainGuard, "GET", "/orders", "").Header().Get("WWW-Authenticate"); strings.Contains(h, "DPoP") {
		t.Errorf("no PublicOrigin: the challenge offers DPoP: %q", h)
	}

	// Verify is the bearer check a caller makes without the middleware: a
	// bound token is refused there too (7.2), a bearer one passes.
	for _, gd := range []*guard.Guard{g, plainGuard} {
		if _, err := gd.Verify(context.Background(), bound); !errors.Is(err, auth.ErrDPoPBinding) || !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("Verify of a bound token: %v, want ErrInvalidToken and ErrDPoPBinding", err)
		}
		if c, err := gd.Verify(context.Background(), plain); err != nil || c.Subject != "user-1" {
			t.Errorf("Verify of a bearer token: %v %v", c, err)
		}
	}
}

// sharedReplay is one replay record for several Guards (what
// dynamo.DPoPReplay is for replicas of a service).
type sharedReplay struct{ *dpop.MemoryReplay }

// TestDPoPReplayOption: two replicas of a service with their own replay
// records each accept a proof once; given one store (Config.DPoPReplay),
// only the first does.
func TestDPoPReplayOption(t *testing.T) {
	key := newKey()
	jwks := newJWKSServer(t, key)
	client, err := dpopclient.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	bound := boundToken(t, key, client.JKT())
	newGuard := func(r dpop.Replay) *guard.Guard {
		g, err := guard.New(context.Background(), guard.Config{Issuer: "https://auth.example.com", Audience: "https://api.example.com",
			JWKSURL: jwks.URL, Revocations: &lookup{}, MaxLifetime: 15 * time.Minute, PublicOrigin: "https://api.example.com", DPoPReplay: r})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	proof := client.Proof("GET", "https://api.example.com/orders", bound, time.Now())
	a, b := newGuard(nil), newGuard(nil)
	if serveDPoP(t, a, "GET", "/orders", "DPoP "+bound, proof).Code != 200 || serveDPoP(t, b, "GET", "/orders", "DPoP "+bound, proof).Code != 200 {
		t.Error("own records: each replica should accept the proof once")
	}
	shared := sharedReplay{dpop.NewMemoryReplay(100, nil)}
	c, d := newGuard(shared), newGuard(shared)
	if serveDPoP(t, c, "GET", "/orders", "DPoP "+bound, proof).Code != 200 {
		t.Error("shared record: the first use refused")
	}
	if serveDPoP(t, d, "GET", "/orders", "DPoP "+bound, proof).Code != 401 {
		t.Error("shared record: the replay at another replica accepted")
	}
}

// TestRequireDPoP: with RequireDPoP (the stack's DPoPMode required) a
// token bound to no key, one minted before the switch, is refused as
// Bearer (it passes without the setting) and as DPoP; a bound one with
// its proof passes; Verify refuses every token; without PublicOrigin the
// setting is a configuration error.
func TestRequireDPoP(t *testing.T) {
	key := newKey()
	jwks := newJWKSServer(t, key)
	const origin = "https://api.example.com"
	client, err := dpopclient.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	bound, plain := boundToken(t, key, client.JKT()), boundToken(t, key, "")
	for _, required := range []bool{false, true} {
		g, err := guard.New(context.Background(), guard.Config{Issuer: "https://auth.example.com", Audience: "https://api.example.com",
			JWKSURL: jwks.URL, Revocations: &lookup{}, MaxLifetime: 15 * time.Minute, PublicOrigin: origin, RequireDPoP: required})
		if err != nil {
			t.Fatal(err)
		}
		if rec := serveDPoP(t, g, "GET", "/orders", "DPoP "+bound, client.Proof("GET", origin+"/orders", bound, time.Now())); rec.Code != 200 {
			t.Errorf("required %v: a bound token with its proof: %d %s", required, rec.Code, rec.Body)
		}
		want := 200
		if required {
			want = 401
		}
		rec := serveDPoP(t, g, "GET", "/orders", "Bearer "+plain)
		if rec.Code != want {
			t.Errorf("required %v: an unbound token as Bearer: %d, want %d", required, rec.Code, want)
		}
		if required && !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("required: the refusal's challenge %q names no invalid_token", rec.Header().Get("WWW-Authenticate"))
		}
		if rec := serveDPoP(t, g, "GET", "/orders", "DPoP "+plain, client.Proof("GET", origin+"/orders", plain, time.Now())); rec.Code != 401 {
			t.Errorf("required %v: an unbound token as DPoP: %d, want 401", required, rec.Code)
		}
		_, err = g.Verify(context.Background(), plain)
		if required != errors.Is(err, auth.ErrUnboundToken) {
			t.Errorf("required %v: Verify of an unbound token: %v", required, err)
		}
	}
	if _, err := guard.New(context.Background(), guard.Config{Issuer: "https://auth.example.com", Audience: "https://api.example.com",
		JWKSURL: jwks.URL, Revocations: &lookup{}, MaxLifetime: 15 * time.Minute, RequireDPoP: true}); err == nil {
		t.Error("RequireDPoP without PublicOrigin accepted")
	}
}
