package dpop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/dpop"
	"github.com/authkit/lambda-auth/shared/token"
)

// TestVerifyAlgorithms: every supported algorithm verifies when allowed,
// and a key of another algorithm's type is refused.
func TestVerifyAlgorithms(t *testing.T) {
	all := []string{"ES256", "ES384", "EdDSA", "Ed25519", "RS256", "PS256"}
	v := newVerifier(t, dpop.WithAlgorithms(all...))
	if got := strings.Join(v.Algorithms(), " "); got != "ES256 ES384 EdDSA Ed25519 PS256 RS256" {
		t.Fatalf("Algorithms() = %s", got)
	}
	signers := map[string]*signer{}
	for _, alg := range all {
		signers[alg] = newSigner(t, alg)
	}
	for _, alg := range all {
		t.Run(alg, func(t *testing.T) {
			s := signers[alg]
			p, err := v.Verify(context.Background(), s.proof(t, nil), baseRequest())
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if p.Algorithm != alg || p.JKT != thumb(t, s) {
				t.Fatalf("got alg %s jkt %s, want %s %s", p.Algorithm, p.JKT, alg, thumb(t, s))
			}
			// The header names alg, the key is of another type: the
			// signature is the other key's, the type check comes first.
			for _, o := range all {
				if sameFamily(o, alg) {
					continue
				}
				h := s.header()
				h["jwk"] = signers[o].header()["jwk"]
				_, err := v.Verify(context.Background(), s.sign(t, mustJSON(t, h), mustJSON(t, claims()), anyS), baseRequest())
				if !errors.Is(err, dpop.ErrKey) {
					t.Errorf("alg %s with a %s key: got %v, want ErrKey", alg, o, err)
				}
			}
		})
	}
	// ES256 only by default.
	def := newVerifier(t)
	for _, alg := range all[1:] {
		if _, err := def.Verify(context.Background(), signers[alg].proof(t, nil), baseRequest()); !errors.Is(err, dpop.ErrAlgorithm) {
			t.Errorf("default verifier, %s: got %v, want ErrAlgorithm", alg, err)
		}
	}
	for _, bad := range []string{"none", "HS256", "ES512", "RS512"} {
		if _, err := dpop.NewVerifier(dpop.WithAlgorithms(bad)); err == nil {
			t.Errorf("NewVerifier took algorithm %s", bad)
		}
	}
}

func sameFamily(a, b string) bool {
	fam := func(s string) string {
		switch s {
		case "EdDSA", "Ed25519":
			return "okp"
		case "RS256", "PS256":
			return "rsa"
		}
		return s
	}
	return fam(a) == fam(b)
}

// TestRSAKeySize: 2048 to 4096 bits only (RFC 7518 3.3; the upper bound
// caps the CPU a client's key choice costs). The refused sizes are checked
// before the signature, so their keys need no private half.
func TestRSAKeySize(t *testing.T) {
	v := newVerifier(t, dpop.WithAlgorithms("RS256"))
	s := newSigner(t, "RS256")
	if _, err := v.Verify(context.Background(), s.proof(t, nil), baseRequest()); err != nil {
		t.Fatalf("2048 bits: %v", err)
	}
	for _, bits := range []int{2047, 4097} {
		n := make([]byte, (bits+7)/8)
		rand.Read(n)
		n[0] = byte(1) << ((bits - 1) % 8)
		n[len(n)-1] |= 1
		h := s.header()
		jwk(h)["n"] = b64.EncodeToString(n)
		_, err := v.Verify(context.Background(), s.sign(t, mustJSON(t, h), mustJSON(t, claims()), anyS), baseRequest())
		if !errors.Is(err, dpop.ErrKey) || !strings.Contains(err.Error(), fmt.Sprintf("%d bits", bits)) {
			t.Errorf("%d bits: got %v, want ErrKey for the size", bits, err)
		}
	}
	for _, e := range []string{"AAEAAQ", "Aw", "AQ", "Ag", "gAAAAQ"} { // leading zero, 3 ok, 1, even, >= 2^31
		h := s.header()
		jwk(h)["e"] = e
		_, err := v.Verify(context.Background(), s.sign(t, mustJSON(t, h), mustJSON(t, claims()), anyS), baseRequest())
		if e == "Aw" {
			if !errors.Is(err, dpop.ErrSignature) { // a valid exponent, not the key's
				t.Errorf("e %s: got %v, want ErrSignature", e, err)
			}
		} else if !errors.Is(err, dpop.ErrKey) {
			t.Errorf("e %s: got %v, want ErrKey", e, err)
		}
	}
}

// TestThumbprint: RFC 7638's own example (section 3.1), RFC 8037's (A.3),
// and the same value as token.Thumbprint, the one the service uses for
// its own keys, for EC and RSA keys.
func TestThumbprint(t *testing.T) {
	for _, tc := range []struct {
		name string
		jwk  dpop.JWK
		want string
	}{
		{"RFC 7638 3.1", dpop.JWK{Kty: "RSA", E: "AQAB", N: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"},
			"NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"},
		{"RFC 8037 A.3", dpop.JWK{Kty: "OKP", Crv: "Ed25519", X: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
			"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"},
	} {
		got, err := dpop.Thumbprint(tc.jwk)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}

	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	r, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, pub := range []any{&p256.PublicKey, &p384.PublicKey, &r.PublicKey} {
		j, err := token.PublicJWK(pub)
		if err != nil {
			t.Fatal(err)
		}
		want, err := token.Thumbprint(pub)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dpop.Thumbprint(dpop.JWK{Kty: j.Kty, Crv: j.Crv, X: j.X, Y: j.Y, N: j.N, E: j.E})
		if err != nil || got != want {
			t.Errorf("%T: dpop %q (%v), token %q", pub, got, err, want)
		}
	}

	for _, bad := range []dpop.JWK{{Kty: "oct"}, {Kty: "EC", Crv: "P-256", X: "AA"}, {Kty: "RSA", N: `a"b`, E: "AQAB"}} {
		if _, err := dpop.Thumbprint(bad); !errors.Is(err, dpop.ErrKey) {
			t.Errorf("Thumbprint(%+v): got %v, want ErrKey", bad, err)
		}
	}
}

// TestATHExample: RFC 9449 7.1's access token and the ath of section 4.2's
// example proof for it.
func TestATHExample(t *testing.T) {
	if got := ath("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"); got != "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo" {
		t.Fatalf("ath %s", got)
	}
	es := newSigner(t, "ES256")
	tok := "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
	p := es.proof(t, func(c map[string]any) { c["ath"] = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo" })
	req := baseRequest()
	req.AccessToken = tok
	if _, err := newVerifier(t).Verify(context.Background(), p, req); err != nil {
		t.Fatal(err)
	}
}

// TestNormalizeURI: RFC 3986 6.2.2 and 6.2.3 as RFC 9449 4.3 step 9 asks.
func TestNormalizeURI(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://api.example.com/auth/refresh", "https://api.example.com/auth/refresh"},
		{"HTTPS://API.EXAMPLE.COM/auth/refresh", "https://api.example.com/auth/refresh"},
		{"https://api.example.com:443/x", "https://api.example.com/x"},
		{"https://api.example.com:0443/x", "https://api.example.com/x"},
		{"http://127.0.0.1:80/x", "http://127.0.0.1/x"},
		{"http://127.0.0.1:3000/x", "http://127.0.0.1:3000/x"},
		{"https://api.example.com:80/x", "https://api.example.com:80/x"},
		{"https://api.example.com", "https://api.example.com/"},
		{"https://api.example.com:", "https://api.example.com/"},
		{"https://api.example.com/a%2fb", "https://api.example.com/a%2Fb"},
		{"https://api.example.com/%7Euser/%61", "https://api.example.com/~user/a"},
		{"https://api.example.com/a b/é", "https://api.example.com/a%20b/%C3%A9"},
		{"https://api.example.com/a/./b/../c", "https://api.example.com/a/c"},
		{"https://api.example.com/a/%2E%2E/c", "https://api.example.com/c"},
		{"https://api.example.com/../../x", "https://api.example.com/x"},
		{"https://api.example.com/x?q=1#f", "https://api.example.com/x"},
		{"https://api.example.com/x#f?q", "https://api.example.com/x"},
		{"https://[::1]:443/x", "https://[::1]/x"},
		{"https://[FE80::1]:8443/x", "https://[fe80::1]:8443/x"},
		{"https://abc.execute-api.eu-west-1.amazonaws.com/prod/me", "https://abc.execute-api.eu-west-1.amazonaws.com/prod/me"},
	} {
		got, err := dpop.NormalizeURI(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeURI(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "/x", "api.example.com/x", "ftp://api.example.com/x", "https://user@api.example.com/x",
		"https:///x", "https://api.example.com:99999/x", "https://api.example.com:-1/x", "https://api.example.com/%zz",
		"https://api.example.com/%4", "https://[::1/x", "https://[::1]x/", "https://exa mple.com/", "https://" + strings.Repeat("a", 5000)} {
		if got, err := dpop.NormalizeURI(bad); err == nil {
			t.Errorf("NormalizeURI(%q) = %q, want an error", bad, got)
		}
	}
}

// TestNonces: a nonce is valid during its step and the next, not before
// and not after; another secret's nonce is not; the verifier requires one
// when configured, with ErrUseNonce (not ErrInvalidProof).
func TestNonces(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	ns, err := dpop.NewNonces(secret, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	base := testNow.Truncate(time.Minute)
	n := ns.NewNonce(base.Add(10 * time.Second))
	if n == ns.NewNonce(base.Add(70*time.Second)) {
		t.Fatal("two steps gave the same nonce")
	}
	if n != ns.NewNonce(base.Add(59*time.Second)) {
		t.Fatal("one step gave two nonces")
	}
	for _, tc := range []struct {
		at   time.Duration
		want bool
	}{{-time.Second, false}, {0, true}, {59 * time.Second, true}, {60 * time.Second, true}, {119 * time.Second, true}, {120 * time.Second, false}} {
		if got := ns.CheckNonce(n, base.Add(tc.at)); got != tc.want {
			t.Errorf("nonce of step 0 checked at %s: %v, want %v", tc.at, got, tc.want)
		}
	}
	other, _ := dpop.NewNonces([]byte(strings.Repeat("o", 32)), time.Minute)
	if other.CheckNonce(n, base) {
		t.Error("a nonce of another secret accepted")
	}
	for _, bad := range []string{"", n + "A", n[:len(n)-1], strings.ToUpper(n), n + "="} {
		if bad != n && ns.CheckNonce(bad, base) {
			t.Errorf("nonce %q accepted", bad)
		}
	}
	if _, err := dpop.NewNonces(secret[:31], time.Minute); err == nil {
		t.Error("31-byte secret accepted")
	}
	if _, err := dpop.NewNonces(secret, time.Millisecond); err == nil {
		t.Error("1ms step accepted")
	}

	es := newSigner(t, "ES256")
	clock := base.Add(30 * time.Second)
	v, err := dpop.NewVerifier(dpop.WithNonces(ns), dpop.WithTimeFunc(func() time.Time { return clock }))
	if err != nil {
		t.Fatal(err)
	}
	at := func(c map[string]any) { c["iat"] = clock.Unix() }
	for _, tc := range []struct {
		name  string
		nonce any // nil: none
		want  error
	}{
		{"current", ns.NewNonce(clock), nil},
		{"previous step", ns.NewNonce(clock.Add(-time.Minute)), nil},
		{"missing", nil, dpop.ErrUseNonce},
		{"stale", ns.NewNonce(clock.Add(-2 * time.Minute)), dpop.ErrUseNonce},
		{"from the future", ns.NewNonce(clock.Add(time.Minute)), dpop.ErrUseNonce},
		{"another secret's", other.NewNonce(clock), dpop.ErrUseNonce},
		{"not a string", 5, dpop.ErrClaims},
	} {
		p := es.proof(t, func(c map[string]any) {
			at(c)
			if tc.nonce != nil {
				c["nonce"] = tc.nonce
			}
		})
		got, err := v.Verify(context.Background(), p, baseRequest())
		if !errors.Is(err, tc.want) || tc.want == nil && err != nil {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		if errors.Is(err, dpop.ErrUseNonce) && errors.Is(err, dpop.ErrInvalidProof) {
			t.Errorf("%s: %v is both use_dpop_nonce and invalid_dpop_proof", tc.name, err)
		}
		if tc.want == nil && err == nil && got.Nonce != tc.nonce {
			t.Errorf("%s: Nonce %q", tc.name, got.Nonce)
		}
	}
}

// TestReplay: with a Replay, a proof is accepted once; the same jti under
// another key is another proof; a refused proof is not recorded; a store
// failure refuses with an error that is no sentinel.
func TestReplay(t *testing.T) {
	r := dpop.NewMemoryReplay(100, func() time.Time { return testNow })
	v := newVerifier(t, dpop.WithReplay(r))
	a, b := newSigner(t, "ES256"), newSigner(t, "ES256")
	same := func(c map[string]any) { c["jti"] = "one" }
	pa := a.proof(t, same)
	if _, err := v.Verify(context.Background(), pa, baseRequest()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), pa, baseRequest()); !errors.Is(err, dpop.ErrReplay) {
		t.Fatalf("replayed: got %v, want ErrReplay", err)
	}
	// Same jti, same key, new signature (a high-S twin or a re-signing):
	// still the same proof.
	if _, err := v.Verify(context.Background(), a.proof(t, same), baseRequest()); !errors.Is(err, dpop.ErrReplay) {
		t.Fatalf("re-signed: got %v, want ErrReplay", err)
	}
	if _, err := v.Verify(context.Background(), b.proof(t, same), baseRequest()); err != nil {
		t.Fatalf("same jti, other key: %v", err)
	}
	req := baseRequest()
	req.Method = "GET"
	fresh := a.proof(t, func(c map[string]any) { c["jti"] = "two" })
	if _, err := v.Verify(context.Background(), fresh, req); !errors.Is(err, dpop.ErrMethod) {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), fresh, baseRequest()); err != nil {
		t.Fatalf("a proof refused once for its method was recorded: %v", err)
	}

	broken := newVerifier(t, dpop.WithReplay(failingReplay{}))
	_, err := broken.Verify(context.Background(), a.proof(t, nil), baseRequest())
	if err == nil || errors.Is(err, dpop.ErrInvalidProof) || errors.Is(err, dpop.ErrUseNonce) {
		t.Fatalf("store down: got %v, want an internal error", err)
	}
}

type failingReplay struct{}

func (failingReplay) Seen(context.Context, string, string, time.Time) (bool, error) {
	return false, errors.New("network down")
}

// TestMemoryReplay: entries live until their time, expired ones are swept,
// a full store refuses rather than forget, and concurrent callers see each
// proof accepted once.
func TestMemoryReplay(t *testing.T) {
	now := testNow
	r := dpop.NewMemoryReplay(2000, func() time.Time { return now })
	ctx := context.Background()
	until := now.Add(time.Minute)
	if seen, err := r.Seen(ctx, "k", "j", until); seen || err != nil {
		t.Fatalf("first: %v %v", seen, err)
	}
	if seen, _ := r.Seen(ctx, "k", "j", until); !seen {
		t.Fatal("second: not seen")
	}
	if seen, _ := r.Seen(ctx, "k2", "j", until); seen {
		t.Fatal("other key: seen")
	}
	if seen, _ := r.Seen(ctx, "k", "j2", until); seen {
		t.Fatal("other jti: seen")
	}
	now = until
	if seen, _ := r.Seen(ctx, "k", "j", until); !seen {
		t.Fatal("at its end: not seen")
	}
	now = until.Add(time.Nanosecond)
	if seen, _ := r.Seen(ctx, "k", "j", now.Add(time.Minute)); seen {
		t.Fatal("after its end: seen")
	}

	// Fill with live entries: the store refuses at its bound, then takes
	// new ones again once the old ones expired (swept, not kept).
	now = testNow
	full := dpop.NewMemoryReplay(1500, func() time.Time { return now })
	var refused error
	for i := 0; i < 1600 && refused == nil; i++ {
		_, refused = full.Seen(ctx, "k", fmt.Sprint(i), now.Add(time.Minute))
	}
	if !errors.Is(refused, dpop.ErrReplayFull) {
		t.Fatalf("1600 live entries in a store of 1500: %v", refused)
	}
	now = now.Add(2 * time.Minute)
	for i := 0; i < 3000; i++ {
		if _, err := full.Seen(ctx, "k", fmt.Sprint("late", i), now.Add(time.Second)); err != nil {
			t.Fatalf("after expiry, entry %d: %v", i, err)
		}
		if i%1000 == 999 {
			now = now.Add(2 * time.Second)
		}
	}
	if n := full.Len(); n > 1500 {
		t.Fatalf("%d entries held, bound 1500", n)
	}

	// Concurrent: 8 goroutines present the same 200 proofs; each is new
	// exactly once.
	c := dpop.NewMemoryReplay(10000, nil)
	var fresh atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				seen, err := c.Seen(ctx, "k", fmt.Sprint(i), time.Now().Add(time.Minute))
				if err != nil {
					t.Error(err)
				}
				if !seen {
					fresh.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if fresh.Load() != 200 {
		t.Fatalf("%d proofs accepted, want 200", fresh.Load())
	}
}
