package guard_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/guard"
	"github.com/authkit/lambda-auth/shared/kmssign"
	"github.com/authkit/lambda-auth/shared/token"
)

// Example puts a Guard in front of a net/http handler. In a real service
// the JWKS URL, issuer, audience and lifetime are the stack's (its
// outputs and parameters) and the revocations come from
// dynamo.FeedReplica(ctx, dynamodb.NewFromConfig(awsCfg),
// dynamo.Tables{RevocationFeed: feedTable, RevocationSnapshot: snapshotTable},
// 15*time.Minute, 10*time.Second); here a stand-in key and an empty
// revocation list keep the example self-contained.
func Example() {
	key, jwks := exampleIssuer()
	defer jwks.Close()

	g, err := guard.New(context.Background(), guard.Config{
		Issuer:      "https://auth.example.com",
		Audience:    "https://api.example.com",
		JWKSURL:     jwks.URL,
		Revocations: noRevocations{},
		MaxLifetime: 15 * time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	api := g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := guard.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "hello %s", c.Subject)
	}))

	for _, authz := range []string{"", "Bearer " + key.token("user-1"), "Bearer not-a-token"} {
		req := httptest.NewRequest("GET", "/me", nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"), strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// 401 Bearer realm="api" {"error":"invalid_request","error_description":"an access token is required: Authorization: Bearer <token>"}
	// 200  hello user-1
	// 401 Bearer realm="api", error="invalid_token" {"error":"invalid_token","error_description":"the access token is invalid, expired or revoked"}
}

// noRevocations is a revocation lookup that knows of none.
type noRevocations struct{}

func (noRevocations) Revocations(context.Context, string, string, string) ([]auth.Revocation, error) {
	return nil, nil
}

// Window is 0: nothing is ever missing from it.
func (noRevocations) Window() time.Duration { return auth.NoWindowLimit }

// exampleKey signs tokens as the service's login does (with a local key
// instead of KMS).
type exampleKey struct {
	priv *ecdsa.PrivateKey
	kid  string
}

func (k exampleKey) KeyID() string     { return k.kid }
func (k exampleKey) Algorithm() string { return "ES256" }
func (k exampleKey) Sign(_ context.Context, in []byte) ([]byte, error) {
	d := sha256.Sum256(in)
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, d[:])
	if err != nil {
		return nil, err
	}
	if half := new(big.Int).Rsh(k.priv.Curve.Params().N, 1); s.Cmp(half) > 0 {
		s.Sub(k.priv.Curve.Params().N, s) // low S, as kmssign
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, nil
}

func (k exampleKey) token(sub string) string {
	now := time.Now()
	c := &token.Claims{SessionID: "AAABmzv2hQAAAAAAAAAAAAAAAAAAAAAA", ClientID: "web"}
	c.Issuer, c.Subject, c.ID = "https://auth.example.com", sub, "jti-1"
	c.Audience = []string{"https://api.example.com"}
	c.IssuedAt, c.ExpiresAt = token.NumericDate(now), token.NumericDate(now.Add(15*time.Minute))
	t, err := token.Issue(context.Background(), k, c)
	if err != nil {
		log.Fatal(err)
	}
	return t
}

// exampleIssuer is a key and a server publishing its JWKS.
func exampleIssuer() (exampleKey, *httptest.Server) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kid, _ := token.Thumbprint(&priv.PublicKey)
	k := exampleKey{priv: priv, kid: kid}
	doc, _ := kmssign.Document([]kmssign.Key{{PublicKey: token.PublicKey{KID: kid, Alg: "ES256", Key: &priv.PublicKey}}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		json.NewEncoder(w).Encode(json.RawMessage(doc))
	}))
	return k, srv
}
