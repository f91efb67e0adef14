package guard_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
	"github.com/authkit/lambda-auth/shared/guard"
	"github.com/authkit/lambda-auth/shared/kmssign"
	"github.com/authkit/lambda-auth/shared/replica"
	"github.com/authkit/lambda-auth/shared/token"
)

// lookup is a revocation lookup in memory that can fail.
type lookup struct {
	mu      sync.Mutex
	entries []auth.Revocation
	fail    error
}

func (l *lookup) Revocations(context.Context, string, string, string) ([]auth.Revocation, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.entries, l.fail
}

// Window: the lookup keeps every entry, as the table does.
func (l *lookup) Window() time.Duration { return auth.NoWindowLimit }

// jwksServer publishes the keys it is given, counting fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	doc     []byte
	status  int
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, keys ...exampleKey) *jwksServer {
	s := &jwksServer{status: 200}
	s.publish(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.WriteHeader(s.status)
		w.Write(s.doc)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) publish(t *testing.T, keys ...exampleKey) {
	var ks []kmssign.Key
	for _, k := range keys {
		ks = append(ks, kmssign.Key{PublicKey: token.PublicKey{KID: k.kid, Alg: "ES256", Key: &k.priv.PublicKey}})
	}
	doc, err := kmssign.Document(ks)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.doc = doc
	s.mu.Unlock()
}

func newKey() exampleKey {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kid, _ := token.Thumbprint(&priv.PublicKey)
	return exampleKey{priv: priv, kid: kid}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func serve(t *testing.T, g *guard.Guard, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	h := g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := guard.ClaimsFrom(r.Context())
		if !ok {
			t.Error("no claims in the context of an allowed request")
			return
		}
		w.Write([]byte(c.Subject))
	}))
	req := httptest.NewRequest("GET", "/", nil)
	for _, v := range headers {
		req.Header.Add("Authorization", v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestMiddleware: only one valid, unrevoked Bearer token gets through;
// every refusal is RFC 6750's (401 and a Bearer challenge naming the
// error once a token was given), and a revocation check that cannot be
// made is 503, never a pass.
func TestMiddleware(t *testing.T) {
	key := newKey()
	jwks := newJWKSServer(t, key)
	revs := &lookup{}
	g, err := guard.New(context.Background(), guard.Config{Issuer: "https://auth.example.com", Audience: "https://api.example.com",
		JWKSURL: jwks.URL, Revocations: revs, MaxLifetime: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	good := key.token("user-1")
	other := newKey().token("user-1") // a key the JWKS does not hold
	cases := []struct {
		name      string
		headers   []string
		revoked   []auth.Revocation
		fail      error
		status    int
		challenge string
	}{
		{"valid", []string{"Bearer " + good}, nil, nil, 200, ""},
		{"no header", nil, nil, nil, 401, `Bearer realm="api"`},
		{"two headers", []string{"Bearer " + good, "Bearer " + good}, nil, nil, 400, `error="invalid_request"`},
		{"not Bearer", []string{"Basic dXNlcjpwYXNz"}, nil, nil, 400, `error="invalid_request"`},
		{"lower-case scheme and a space too many", []string{"bearer  " + good}, nil, nil, 400, `error="invalid_request"`},
		{"garbage", []string{"Bearer abc.def.ghi"}, nil, nil, 401, `error="invalid_token"`},
		{"another key", []string{"Bearer " + other}, nil, nil, 401, `error="invalid_token"`},
		{"revoked jti", []string{"Bearer " + good}, []auth.Revocation{auth.NewRevocation(auth.RevokeToken, "jti-1", time.Now(), "leak")}, nil, 401, `error="invalid_token"`},
		{"revocations unavailable", []string{"Bearer " + good}, nil, errors.New("replica: no view"), 503, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			revs.mu.Lock()
			revs.entries, revs.fail = tc.revoked, tc.fail
			revs.mu.Unlock()
			rec := serve(t, g, tc.headers...)
			if rec.Code != tc.status || !strings.Contains(rec.Header().Get("WWW-Authenticate"), tc.challenge) {
				t.Fatalf("%d %q %s, want %d with a challenge holding %q", rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body, tc.status, tc.challenge)
			}
			if c, err := g.Verify(context.Background(), strings.TrimPrefix(strings.Join(tc.headers, ""), "Bearer ")); tc.status != 200 && c != nil {
				t.Errorf("Verify refused (%v) and still returned claims: a caller testing c != nil would let it in", err)
			}
			if tc.status == 200 {
				if rec.Body.String() != "user-1" {
					t.Errorf("handler saw %q", rec.Body)
				}
				return
			}
			var e map[string]string
			if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e["error"] == "" || e["error_description"] == "" {
				t.Errorf("body %q is not an RFC 6749-style JSON error", rec.Body)
			}
			if tc.status == 503 && rec.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
}

// TestMaxLifetime: a token that lives longer than the stack issues is
// refused (the replica would not hold its revocations for that long).
func TestMaxLifetime(t *testing.T) {
	key := newKey()
	jwks := newJWKSServer(t, key)
	g, err := guard.New(context.Background(), guard.Config{Issuer: "https://auth.example.com", Audience: "https://api.example.com",
		JWKSURL: jwks.URL, Revocations: &lookup{}, MaxLifetime: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rec := serve(t, g, "Bearer "+key.token("user-1")); rec.Code != 401 { // 15 minutes
		t.Fatalf("a 15-minute token with a 10-minute maximum: %d", rec.Code)
	}
}

// TestKeyRotation: a token of a key the Guard has not seen makes it fetch
// the JWKS again (a rotation is picked up), but made-up kids cost at most
// one fetch per 30 s; a key dropped from the JWKS is refused once the
// document is fetched again.
func TestKeyRotation(t *testing.T) {
	oldKey, newKey := newKey(), newKey()
	jwks := newJWKSServer(t, oldKey)
	c := &clock{t: time.Now()}
	g, err := guard.New(context.Background(), guard.Config{Issuer: "https://auth.example.com", Audience: "https://api.example.com",
		JWKSURL: jwks.URL, Revocations: &lookup{}, MaxLifetime: 15 * time.Minute, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	tok := newKey.token("user-1")
	if rec := serve(t, g, "Bearer "+tok); rec.Code != 401 {
		t.Fatalf("a token of an unpublished key: %d", rec.Code)
	}
	jwks.publish(t, oldKey, newKey) // the rotation begins
	for range 20 {                  // within 30 s of the last fetch: no new fetch
		serve(t, g, "Bearer "+tok)
	}
	if n := jwks.fetches.Load(); n != 1 {
		t.Fatalf("%d JWKS fetches within 30 s, want only the first", n)
	}
	c.Advance(31 * time.Second)
	if rec := serve(t, g, "Bearer "+tok); rec.Code != 200 {
		t.Fatalf("the new key after the rotation: %d %s", rec.Code, rec.Body)
	}
	for range 20 {
		serve(t, g, "Bearer "+newKeyToken())
	}
	if n := jwks.fetches.Load(); n != 2 {
		t.Fatalf("%d JWKS fetches after a flood of unknown kids, want 2", n)
	}
	// A token of the old key, verified (and so remembered by the token
	// cache) while the key is published.
	old := oldKey.token("user-1")
	if rec := serve(t, g, "Bearer "+old); rec.Code != 200 {
		t.Fatalf("a token of the old key while it is published: %d %s", rec.Code, rec.Body)
	}
	// The old key is dropped; after the document's max-age it is refused,
	// although the token was verified and cached before: the cache belongs
	// to the key set it was filled with.
	jwks.publish(t, newKey)
	c.Advance(5*time.Minute + time.Second)
	// Once the max-age has passed the document is fetched again in the
	// background (requests go on meanwhile).
	deadline := time.Now().Add(5 * time.Second)
	for serve(t, g, "Bearer "+old).Code != 401 {
		if time.Now().After(deadline) {
			t.Fatal("a cached token of a key dropped from the JWKS still allowed after its max-age")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A failing JWKS endpoint keeps the keys there are.
	jwks.mu.Lock()
	jwks.status = 500
	jwks.mu.Unlock()
	before := jwks.fetches.Load()
	c.Advance(6 * time.Minute)
	for range 20 {
		if rec := serve(t, g, "Bearer "+newKey.token("user-1")); rec.Code != 200 {
			t.Fatalf("the JWKS endpoint failing: %d, want the keys kept", rec.Code)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := jwks.fetches.Load() - before; n != 1 {
		t.Fatalf("%d fetches of a failing JWKS for 20 requests, want 1 (then a pause)", n)
	}
}

func newKeyToken() string { return newKey().token("user-1") }

// TestJWKSKeysChecked: keys that do not name their algorithm, are not
// signature keys, carry a kid that is not their RFC 7638 thumbprint, or
// are not valid points are left out; a JWKS with none left, or that cannot
// be fetched, stops New (fail closed from the start).
func TestJWKSKeysChecked(t *testing.T) {
	good := newKey()
	j, _ := token.PublicJWK(&good.priv.PublicKey)
	mk := func(edit func(*token.JWK)) token.JWK {
		k := j
		k.Kid, k.Alg, k.Use = good.kid, "ES256", "sig"
		edit(&k)
		return k
	}
	bad := []token.JWK{
		mk(func(k *token.JWK) { k.Alg = "" }),
		mk(func(k *token.JWK) { k.Use = "enc" }),
		mk(func(k *token.JWK) { k.Kid = "my-key" }),
		mk(func(k *token.JWK) { k.Y = k.X }),
		mk(func(k *token.JWK) { k.Crv = "P-384" }),
		mk(func(k *token.JWK) { k.Kty = "oct" }),
	}
	for i, b := range bad {
		doc, _ := json.Marshal(map[string]any{"keys": []token.JWK{b}})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(doc) }))
		_, err := guard.New(context.Background(), guard.Config{Issuer: "i", Audience: "a", JWKSURL: srv.URL, Revocations: &lookup{}, MaxLifetime: time.Minute})
		srv.Close()
		if err == nil {
			t.Errorf("bad key %d (%+v) accepted", i, b)
		}
	}
	fail := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer fail.Close()
	if _, err := guard.New(context.Background(), guard.Config{Issuer: "i", Audience: "a", JWKSURL: fail.URL, Revocations: &lookup{}, MaxLifetime: time.Minute}); err == nil {
		t.Error("New succeeded without a JWKS")
	}
	if _, err := guard.New(context.Background(), guard.Config{Issuer: "i", Audience: "a", JWKSURL: fail.URL, MaxLifetime: time.Minute}); err == nil || !strings.Contains(err.Error(), "Revocations") {
		t.Errorf("New without revocations: %v", err)
	}
	// Keys over plain http could be replaced in transit: https only, but
	// on the machine itself.
	for _, u := range []string{"http://auth.example.com/.well-known/jwks.json", "ftp://auth.example.com/jwks", "//auth.example.com/jwks", "http://10.0.0.1/jwks"} {
		if _, err := guard.New(context.Background(), guard.Config{Issuer: "i", Audience: "a", JWKSURL: u, Revocations: &lookup{}, MaxLifetime: time.Minute}); err == nil || !strings.Contains(err.Error(), "https") {
			t.Errorf("JWKSURL %s: %v, want refused for its scheme", u, err)
		}
	}
	// One key the verifier cannot use (an RSA key under 2048 bits) is left
	// out; the others serve.
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	sj, _ := token.PublicJWK(&small.PublicKey)
	sj.Kid, _ = token.Thumbprint(&small.PublicKey)
	sj.Alg, sj.Use = "RS256", "sig"
	doc, _ := json.Marshal(map[string]any{"keys": []token.JWK{sj, mk(func(*token.JWK) {})}})
	mixed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(doc) }))
	defer mixed.Close()
	g, err := guard.New(context.Background(), guard.Config{Issuer: "https://auth.example.com", Audience: "https://api.example.com",
		JWKSURL: mixed.URL, Revocations: &lookup{}, MaxLifetime: 15 * time.Minute})
	if err != nil {
		t.Fatalf("a JWKS with one unusable key: %v", err)
	}
	if rec := serve(t, g, "Bearer "+good.token("user-1")); rec.Code != 200 {
		t.Fatalf("the usable key of a mixed JWKS: %d", rec.Code)
	}
	// A replica keeping less than a token lives is refused.
	short := replica.New(nil, replica.Options{Window: 15 * time.Minute})
	if _, err := guard.New(context.Background(), guard.Config{Issuer: "https://auth.example.com", Audience: "https://api.example.com",
		JWKSURL: mixed.URL, Revocations: short, MaxLifetime: 15 * time.Minute}); err == nil || !strings.Contains(err.Error(), "FeedReplica") {
		t.Errorf("a replica window shorter than MaxLifetime + 2 × Leeway: %v", err)
	}
	// A replica built without a Window (0) keeps a few seconds of the
	// feed: refused, never taken for "no limit".
	unset := replica.New(nil, replica.Options{})
	if _, err := guard.New(context.Background(), guard.Config{Issuer: "https://auth.example.com", Audience: "https://api.example.com",
		JWKSURL: mixed.URL, Revocations: unset, MaxLifetime: 15 * time.Minute}); err == nil || !strings.Contains(err.Error(), "keeps 0s") {
		t.Errorf("a replica with no Window: %v", err)
	}
}

// TestWithTheStack: a Guard over the real stack's parts: a KMS-signed
// token, keys from the JWKS the jwks function serves, and a replica of the
// revocation feed in local DynamoDB. A revocation written by the service,
// of one token or the global cutoff, is refused within the replica's sync
// interval.
func TestWithTheStack(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	signer, err := kmssign.New(ctx, env.KMS, env.KeyID, "RS256")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := kmssign.Document([]kmssign.Key{signer.Key()})
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(doc) }))
	defer jwks.Close()
	rep, err := dynamo.FeedReplica(ctx, env.DB, env.Tables, 15*time.Minute, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	g, err := guard.New(ctx, guard.Config{Issuer: env.Getenv("ISSUER"), Audience: env.Getenv("AUDIENCE"),
		JWKSURL: jwks.URL, Revocations: rep, MaxLifetime: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c := &token.Claims{SessionID: "AAABmzv2hQAAAAAAAAAAAAAAAAAAAAAA", ClientID: "web"}
	c.Issuer, c.Subject, c.ID = env.Getenv("ISSUER"), "user-9", "jti-stack"
	c.Audience = []string{env.Getenv("AUDIENCE")}
	c.IssuedAt, c.ExpiresAt = token.NumericDate(now), token.NumericDate(now.Add(15*time.Minute))
	tok, err := token.Issue(ctx, signer, c)
	if err != nil {
		t.Fatal(err)
	}
	if rec := serve(t, g, "Bearer "+tok); rec.Code != 200 {
		t.Fatalf("a KMS-signed token: %d %s", rec.Code, rec.Body)
	}
	if err := env.Store.PutRevocation(ctx, auth.NewRevocation(auth.RevokeToken, "jti-stack", time.Now(), "leak")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(1500 * time.Millisecond)
	for serve(t, g, "Bearer "+tok).Code != 401 {
		if time.Now().After(deadline) {
			t.Fatal("a revoked token still allowed 1.5 s after the revocation")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The global cutoff (revoke-all) ends another user's token too.
	c.Subject, c.ID = "user-10", "jti-stack-2"
	tok, err = token.Issue(ctx, signer, c)
	if err != nil {
		t.Fatal(err)
	}
	if rec := serve(t, g, "Bearer "+tok); rec.Code != 200 {
		t.Fatalf("another user's token before the global cutoff: %d %s", rec.Code, rec.Body)
	}
	if err := env.Store.PutRevocation(ctx, auth.NewRevocation(auth.RevokeAll, auth.AllValue, time.Now(), "key compromised")); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(1500 * time.Millisecond)
	for serve(t, g, "Bearer "+tok).Code != 401 {
		if time.Now().After(deadline) {
			t.Fatal("a token of a session started before the global cutoff still allowed 1.5 s after it")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
