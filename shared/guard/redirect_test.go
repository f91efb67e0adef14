package guard_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/guard"
	"github.com/authkit/lambda-auth/shared/kmssign"
	"github.com/authkit/lambda-auth/shared/token"
)

// TestJWKSRedirectRefused: the JWKS URL names the document exactly; a
// 3xx from it, to plain http or to another https server, is an error
// naming the status, the target is never fetched, and no token of a key
// published there is accepted: not at New (it fails), not on a refetch
// for an unknown kid (the keys there were stay).
func TestJWKSRedirectRefused(t *testing.T) {
	known, planted := newKey(), newKey()
	doc := func(k exampleKey) []byte {
		d, err := kmssign.Document([]kmssign.Key{{PublicKey: token.PublicKey{KID: k.kid, Alg: "ES256", Key: &k.priv.PublicKey}}})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	var targetFetches atomic.Int32
	serveDoc := func(d []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { targetFetches.Add(1); w.Write(d) }
	}
	plain := httptest.NewServer(serveDoc(doc(planted)))
	defer plain.Close()
	other := httptest.NewTLSServer(serveDoc(doc(planted)))
	defer other.Close()

	for _, target := range []struct{ name, url string }{{"http", plain.URL}, {"https", other.URL}} {
		for _, status := range []int{301, 302, 303, 307, 308} {
			t.Run(target.name+" "+strconv.Itoa(status), func(t *testing.T) {
				targetFetches.Store(0)
				var redirect atomic.Bool
				redirect.Store(true)
				src := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if redirect.Load() {
						http.Redirect(w, r, target.url+"/jwks.json", status)
						return
					}
					w.Write(doc(known))
				}))
				defer src.Close()
				client := src.Client() // trusts every httptest TLS server's certificate
				cfg := guard.Config{Issuer: "https://auth.example.com", Audience: "https://api.example.com",
					JWKSURL: src.URL + "/.well-known/jwks.json", Revocations: &lookup{}, MaxLifetime: 15 * time.Minute, HTTPClient: client}
				_, err := guard.New(context.Background(), cfg)
				if err == nil || !strings.Contains(err.Error(), strconv.Itoa(status)) || !strings.Contains(err.Error(), "redirect") {
					t.Fatalf("New with a JWKS URL answering %d: %v, want an error naming the status", status, err)
				}
				if targetFetches.Load() != 0 {
					t.Fatal("the redirect's target was fetched")
				}
				if client.CheckRedirect != nil {
					t.Error("New changed the caller's client")
				}

				// A Guard started while the URL served its keys; then it
				// redirects to a document holding another key.
				redirect.Store(false)
				c := &clock{t: time.Now()}
				cfg.Now = c.Now
				g, err := guard.New(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				redirect.Store(true)
				c.Advance(31 * time.Second) // past the unknown-kid refetch limit
				if rec := serve(t, g, "Bearer "+planted.token("user-1")); rec.Code != 401 {
					t.Fatalf("a token of the key behind the redirect: %d, want 401", rec.Code)
				}
				if targetFetches.Load() != 0 {
					t.Fatal("the redirect's target was fetched on a refetch")
				}
				if rec := serve(t, g, "Bearer "+known.token("user-1")); rec.Code != 200 {
					t.Fatalf("a token of the key fetched before the redirect: %d, want 200", rec.Code)
				}
			})
		}
	}
}
