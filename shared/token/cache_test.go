package token_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/token"
)

// TestCache: a token verified once is served from the cache, but its time
// claims are checked on every use; nothing unverified enters; the cache
// never holds more than its size.
func TestCache(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s := &localSigner{kid: "kid-ec", alg: "ES256", ec: k}
	clock := now
	v, err := token.NewVerifier("https://iss.example", "https://aud.example",
		[]token.PublicKey{{KID: s.kid, Alg: "ES256", Key: &k.PublicKey}},
		token.WithLeeway(5*time.Second), token.WithTimeFunc(func() time.Time { return clock }))
	if err != nil {
		t.Fatal(err)
	}
	c := token.NewCache(v, 3)
	good := forge(t, s, goodHeader, goodPayload(nil)) // iat now, exp now+15m

	first, err := c.Verify(good)
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Verify(good)
	if err != nil || second != first || c.Len() != 1 {
		t.Fatalf("second use: %v, same claims %v, %d cached; want the cached claims", err, second == first, c.Len())
	}

	// Refused tokens never enter: a bad signature, a bad claim.
	for _, bad := range []string{
		good[:len(good)-4] + "AAAA",
		forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m["aud"] = `"https://other.example"` })),
	} {
		for range 2 {
			if _, err := c.Verify(bad); err == nil {
				t.Fatal("a refused token was accepted (from the cache?)")
			}
		}
	}
	if c.Len() != 1 {
		t.Fatalf("%d cached after refused tokens, want 1", c.Len())
	}

	// Time claims on every use: exp passes while the token sits in the cache.
	clock = now.Add(15*time.Minute + 4*time.Second) // within the leeway
	if _, err := c.Verify(good); err != nil {
		t.Fatalf("within the leeway: %v", err)
	}
	clock = now.Add(15*time.Minute + 5*time.Second)
	if _, err := c.Verify(good); !errors.Is(err, token.ErrClaims) {
		t.Fatalf("expired while cached: %v, want ErrClaims", err)
	}
	// nbf in the future on a cached token: refused until it passes.
	clock = now
	early := forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m["nbf"] = strconv.FormatInt(now.Add(time.Minute).Unix(), 10) }))
	if _, err := c.Verify(early); err == nil {
		t.Fatal("a token not yet valid was accepted")
	}
	clock = now.Add(time.Minute)
	if _, err := c.Verify(early); err != nil {
		t.Fatalf("nbf passed: %v", err)
	}
	clock = now.Add(30 * time.Second) // a clock going back: nbf checked on the cached token too
	if _, err := c.Verify(early); !errors.Is(err, token.ErrClaims) {
		t.Fatalf("cached token before its nbf: %v, want ErrClaims", err)
	}

	// Bounded: older entries are evicted.
	clock = now
	for i := range 5 {
		tok := forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m["jti"] = `"j` + strconv.Itoa(i) + `"` }))
		if _, err := c.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() != 3 {
		t.Fatalf("%d cached, want at most 3", c.Len())
	}

	// Concurrent use (go test -race).
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			tok := forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m["jti"] = `"c` + strconv.Itoa(i%3) + `"` }))
			for range 20 {
				if _, err := c.Verify(tok); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

// TestMaxLifetime: with a maximum lifetime, a token that lives longer than
// the configuration issues is refused, however well signed.
func TestMaxLifetime(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s := &localSigner{kid: "kid-ec", alg: "ES256", ec: k}
	v, err := token.NewVerifier("https://iss.example", "https://aud.example",
		[]token.PublicKey{{KID: s.kid, Alg: "ES256", Key: &k.PublicKey}},
		token.WithMaxLifetime(15*time.Minute), token.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(forge(t, s, goodHeader, goodPayload(nil))); err != nil {
		t.Fatalf("15 minutes: %v", err)
	}
	long := forge(t, s, goodHeader, goodPayload(func(m map[string]string) {
		m["exp"] = strconv.FormatInt(now.Add(15*time.Minute+time.Second).Unix(), 10)
	}))
	if _, err := v.Verify(long); !errors.Is(err, token.ErrClaims) {
		t.Fatalf("15 minutes and 1 second: %v, want ErrClaims", err)
	}
}
