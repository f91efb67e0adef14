package token_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/token"
)

// TestCacheConcurrentEviction: heavy contention with eviction: every
// answer is the claims of the token asked for, the size bound holds.
func TestCacheConcurrentEviction(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s := &localSigner{kid: "kid-ec", alg: "ES256", ec: k}
	v, err := token.NewVerifier("https://iss.example", "https://aud.example",
		[]token.PublicKey{{KID: s.kid, Alg: "ES256", Key: &k.PublicKey}},
		token.WithLeeway(5*time.Second), token.WithTimeFunc(func() time.Time { return now }), token.WithMaxLifetime(15*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	c := token.NewCache(v, 2)
	var toks []string
	for i := range 6 {
		toks = append(toks, forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m["jti"] = `"r` + strconv.Itoa(i) + `"` })))
	}
	bad := toks[0][:len(toks[0])-4] + "AAAA"
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 300 {
				n := (g + i) % 6
				cl, err := c.Verify(toks[n])
				if err != nil || cl.ID != "r"+strconv.Itoa(n) {
					t.Errorf("token %d: %v %v", n, cl, err)
					return
				}
				if _, err := c.Verify(bad); err == nil {
					t.Error("tampered token accepted")
					return
				}
			}
		})
	}
	wg.Wait()
	if c.Len() > 2 {
		t.Fatalf("%d cached, bound 2", c.Len())
	}
}
