package apigw

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/token"
)

// The fuzz targets of the API Gateway adapters need no server: the
// authorizer verifies with a fixed in-process key (RFC 6979 signatures, so
// the genuine token is the same bytes in every worker and run) and reads
// revocations from an empty in-memory store; login reads users from an
// in-memory store and counts password checks instead of hashing.
// Run one with
//
//	go test -run '^$' -fuzz '^FuzzAuthorizerEvent$' -fuzztime 30s ./shared/apigw/
//
// or all of them with scripts/fuzz.

const fuzzScalar = "68908c51ff20d140844ed95be610df663ba52954f50847929fe3b59addae2fa2"

var fuzzNow = time.Date(2026, 11, 28, 12, 5, 0, 0, time.UTC)

type noRevocations struct{}

func (noRevocations) PutRevocation(context.Context, auth.Revocation) error { return nil }
func (noRevocations) Revocations(context.Context, string, string, string) ([]auth.Revocation, error) {
	return nil, nil
}
func (noRevocations) Window() time.Duration { return auth.NoWindowLimit }

// fuzzAuthorizer is the real authorizer handler over the fixed key, and the
// one token it must allow.
func fuzzAuthorizer(tb testing.TB) (func(context.Context, json.RawMessage) (any, error), string) {
	tb.Helper()
	d, _ := hex.DecodeString(fuzzScalar)
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := token.NewVerifier("https://auth.fuzz.example", "https://api.fuzz.example",
		[]token.PublicKey{{KID: "fuzz-key", Alg: "ES256", Key: &key.PublicKey}},
		token.WithLeeway(10*time.Second), token.WithTimeFunc(func() time.Time { return fuzzNow }))
	if err != nil {
		tb.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	svc := auth.NewAuthorizer(v, noRevocations{}, time.Second, auth.Options{Now: func() time.Time { return fuzzNow }, Logger: quiet})

	sid := make([]byte, 24) // a session started an hour ago
	binary.BigEndian.PutUint64(sid, uint64(fuzzNow.Add(-time.Hour).UnixMilli()))
	payload := `{"aud":"https://api.fuzz.example","client_id":"web","exp":1795868100,"iat":1795867200,` +
		`"iss":"https://auth.fuzz.example","jti":"jti-1","sid":"` + base64.RawURLEncoding.EncodeToString(sid) + `","sub":"user-1"}`
	in := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":"fuzz-key","typ":"at+jwt"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(payload))
	digest := sha256.Sum256([]byte(in))
	der, err := key.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		tb.Fatal(err)
	}
	var rs struct{ R, S *big.Int }
	asn1.Unmarshal(der, &rs)
	if n := elliptic.P256().Params().N; rs.S.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		rs.S.Sub(n, rs.S)
	}
	sig := make([]byte, 64)
	rs.R.FillBytes(sig[:32])
	rs.S.FillBytes(sig[32:])
	return Authorizer(svc, quiet, nil), in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// FuzzAuthorizerEvent feeds arbitrary events to the authorizer handler.
// Invariants: no panic; the only error is "Unauthorized" (any other error
// is a 500 at API Gateway); a denial carries no identity; and an allow
// happens only for an event that carries the genuine token, exactly as
// "Bearer <token>", with that token's identity passed on.
func FuzzAuthorizerEvent(f *testing.F) {
	authorize, genuine := fuzzAuthorizer(f)
	for _, name := range []string{"authorizer", "authorizer-rest-token", "authorizer-rest-request"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "events", name+".json"))
		if err != nil {
			f.Fatal(err)
		}
		withToken := []byte(strings.ReplaceAll(string(b), "REPLACE_WITH_ACCESS_TOKEN", genuine))
		// The genuine token is allowed, so the fuzzer starts from an allow.
		switch out, _ := authorize(context.Background(), withToken); r := out.(type) {
		case events.APIGatewayV2CustomAuthorizerSimpleResponse:
			if !r.IsAuthorized {
				f.Fatalf("events/%s.json with the genuine token denied", name)
			}
		case events.APIGatewayCustomAuthorizerResponse:
			if r.PolicyDocument.Statement[0].Effect != "Allow" {
				f.Fatalf("events/%s.json with the genuine token denied", name)
			}
		default:
			f.Fatalf("events/%s.json with the genuine token: %T", name, out)
		}
		f.Add(b)
		f.Add(withToken)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := authorize(context.Background(), raw)
		if err != nil {
			if err.Error() != "Unauthorized" || out != nil {
				t.Fatalf("error %v with %v: API Gateway answers 500 to any error but Unauthorized", err, out)
			}
			return
		}
		allowed := false
		var identity map[string]any
		switch r := out.(type) {
		case events.APIGatewayV2CustomAuthorizerSimpleResponse:
			allowed, identity = r.IsAuthorized, r.Context
			if !allowed && r.Context != nil {
				t.Fatalf("denial with an identity: %+v", r)
			}
		case events.APIGatewayCustomAuthorizerResponse:
			st := r.PolicyDocument.Statement
			if len(st) != 1 || len(st[0].Resource) != 1 || st[0].Resource[0] == "" || st[0].Resource[0] == "*" {
				t.Fatalf("policy %+v", r.PolicyDocument)
			}
			allowed, identity = st[0].Effect == "Allow", r.Context
			if !allowed && st[0].Effect != "Deny" {
				t.Fatalf("policy effect %q", st[0].Effect)
			}
		default:
			t.Fatalf("unexpected response %T", out)
		}
		if !allowed {
			return
		}
		var ev any
		if err := json.Unmarshal(raw, &ev); err != nil || !holdsString(ev, "Bearer "+genuine) {
			t.Fatalf("allowed an event without the genuine token: %q", raw)
		}
		if m, ok := ev.(map[string]any); ok {
			if h, ok := m["headers"].(map[string]any); ok {
				if _, lower := h["authorization"]; !lower {
					n := 0
					for k := range h {
						if strings.EqualFold(k, "authorization") {
							n++
						}
					}
					if n > 1 {
						t.Fatalf("allowed an event with Authorization in %d spellings: %q", n, raw)
					}
				}
			}
		}
		if identity["sub"] != "user-1" || identity["jti"] != "jti-1" {
			t.Fatalf("allowed with identity %v", identity)
		}
	})
}

// holdsString reports whether s is one of the string values in v.
func holdsString(v any, s string) bool {
	switch x := v.(type) {
	case string:
		return x == s
	case []any:
		return slices.ContainsFunc(x, func(e any) bool { return holdsString(e, s) })
	case map[string]any:
		for _, e := range x {
			if holdsString(e, s) {
				return true
			}
		}
	}
	return false
}

// FuzzRefreshRequest fuzzes how refresh and logout read their request: the
// cookies (array and header), Origin, Sec-Fetch-Site, Content-Type and
// body. Invariants: no panic; a refusal is a client error (400, 403, 413,
// 415); a token from the cookie comes with a request from an allowed
// origin that is not cross-site, and is exactly the value of a cookie of
// our name, never one of two different values; a token from the body comes
// without any refresh cookie but an empty one.
func FuzzRefreshRequest(f *testing.F) {
	ck := CookieConfig{Name: "__Secure-refresh_token", Path: "/auth", AllowedOrigins: []string{"https://app.example.com"}}
	f.Add("__Secure-refresh_token=tok", "", "a=b; __Secure-refresh_token=tok", "https://app.example.com", "same-site", "", "")
	f.Add("__Secure-refresh_token=tok", "__Secure-refresh_token=evil", "", "https://app.example.com", "", "", "")
	f.Add("__Secure-refresh_token=tok", "", "", "https://evil.example", "", "", "")
	f.Add("__Secure-refresh_token=tok", "", "", "", "cross-site", "", "")
	f.Add("", "", "", "https://app.example.com.evil.example", "", "application/json", `{"refresh_token":"tok"}`)
	f.Add("", "", "", "", "", "application/json; charset=utf-8", `{"refresh_token":"tok"}`)
	f.Add("", "", "__Secure-refresh_token=tok", "null", "", "text/plain", `{"refresh_token":"tok"}`)
	f.Fuzz(func(t *testing.T, cookie1, cookie2, cookieHeader, origin, site, ctype, body string) {
		req := Request{Headers: map[string]string{}, Body: body}
		for _, c := range []string{cookie1, cookie2} {
			if c != "" {
				req.Cookies = append(req.Cookies, c)
			}
		}
		for k, v := range map[string]string{"cookie": cookieHeader, "origin": origin, "sec-fetch-site": site, "content-type": ctype} {
			if v != "" {
				req.Headers[k] = v
			}
		}
		tok, inBody, err := presentedRefreshToken(req, ck)
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) || !slices.Contains([]int{400, 403, 413, 415}, re.status) || tok != "" {
				t.Fatalf("refused with %v (token %q)", err, tok)
			}
			return
		}
		values := cookieValues(req, ck.Name)
		switch {
		case tok == "":
		case inBody:
			// An empty refresh cookie (a cleared one some clients keep) is
			// no token: the body's may come with it, never with a real one.
			if slices.ContainsFunc(values, func(v string) bool { return v != "" }) {
				t.Fatalf("token from the body with refresh cookies %q present", values)
			}
		default:
			if !slices.Contains(values, tok) {
				t.Fatalf("token %q is not a cookie value of %q", tok, values)
			}
			for _, v := range values {
				if v != tok && v != "" { // an empty one cannot be a token
					t.Fatalf("token %q taken from two different cookie values %q", tok, values)
				}
			}
			if site == "cross-site" || (origin != "" && !allowedOrigin(origin)) {
				t.Fatalf("cookie token accepted with Origin %q, Sec-Fetch-Site %q", origin, site)
			}
		}
	})
}

// cookieValues lists every value of the cookie name in the request, read
// the simplest way: the cookies array, or else the Cookie header.
func cookieValues(req Request, name string) []string {
	lines := req.Cookies
	if len(lines) == 0 && req.Headers["cookie"] != "" {
		lines = []string{req.Headers["cookie"]}
	}
	var out []string
	for _, line := range lines {
		for _, part := range strings.Split(line, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), name+"="); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

// allowedOrigin is the fuzz oracle's reading of the one allowed origin:
// scheme https and host app.example.com, in any case, without a port.
func allowedOrigin(origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Scheme, "https") && strings.EqualFold(u.Host, "app.example.com")
}

// fuzzUsers is an in-memory user store: nobody exists, and every attempt
// is the first.
type fuzzUsers struct{}

func (fuzzUsers) User(context.Context, string) (*auth.User, error) { return nil, nil }
func (fuzzUsers) ReserveLoginAttempt(context.Context, string, time.Time, time.Time) (auth.Attempt, error) {
	return auth.Attempt{Count: 1}, nil
}
func (fuzzUsers) LockLogin(context.Context, string, int, time.Time, time.Time) error { return nil }
func (fuzzUsers) ClearLoginFailures(context.Context, string, int) error              { return nil }

// noSessions is every store and the signer a login past the password
// check would use; FuzzLoginRequest never gets that far, so each call
// fails.
type noSessions struct{}

var errNotHere = errors.New("a fuzzed login never gets past the password check")

func (noSessions) CreateSession(context.Context, *auth.Session) error     { return errNotHere }
func (noSessions) Session(context.Context, string) (*auth.Session, error) { return nil, errNotHere }
func (noSessions) RotateSession(context.Context, auth.Rotation) (*auth.Session, error) {
	return nil, errNotHere
}
func (noSessions) EndSession(context.Context, string, string, time.Time) error { return errNotHere }
func (noSessions) SessionStanding(context.Context, *auth.Session) (auth.Standing, error) {
	return auth.Standing{}, errNotHere
}
func (noSessions) PutRevocation(context.Context, auth.Revocation) error { return errNotHere }
func (noSessions) UserRevocations(context.Context, string) ([]auth.Revocation, error) {
	return nil, errNotHere
}
func (noSessions) TakeFeedBudget(context.Context, string, string, time.Time) (bool, time.Time, error) {
	return false, time.Time{}, errNotHere
}
func (noSessions) KeyID() string                                { return "none" }
func (noSessions) Algorithm() string                            { return "ES256" }
func (noSessions) Sign(context.Context, []byte) ([]byte, error) { return nil, errNotHere }

// FuzzLoginRequest fuzzes the login body, its content type, its encoding
// and the Origin header through the real login handler. Invariants: no
// panic, no error; the answer is a JSON error with a client status (400,
// 401, 413, 415), never a 500 and never a cookie; a password is checked
// (argon2id, counted here) only for a 401, exactly once, and never a
// password longer than auth.MaxPasswordBytes.
func FuzzLoginRequest(f *testing.F) {
	var checks, tooLong atomic.Int32
	o := auth.Options{LoginMaxFailures: 5, LoginLockoutBase: time.Second, LoginLockoutMax: time.Minute,
		Logger: slog.New(slog.DiscardHandler)}
	// Nobody exists, so no login gets past the password check: the
	// sessions, revocations and signer are never called.
	var none noSessions
	svc := auth.NewLogin(fuzzUsers{}, none, auth.NewRevoker(none, none, auth.NoMetrics{}, o),
		auth.NewAccessIssuer(none, o), make([]byte, 32),
		auth.Passwords{Dummy: "$argon2id$unused", Verify: func(hash, pw string) (bool, error) {
			checks.Add(1)
			if pw == "" || len(pw) > auth.MaxPasswordBytes {
				tooLong.Add(1)
			}
			return false, nil
		}}, auth.NoMetrics{}, o)
	login := Login(svc, CookieConfig{Name: "__Secure-refresh_token", Path: "/auth"}, slog.New(slog.DiscardHandler), nil)
	f.Add("application/json", `{"username":"alice","password":"pw"}`, false, "")
	f.Add("application/json", `{"username":"alice","password":"pw","refresh_token_in_body":true}`, false, "https://app.example.com")
	f.Add("application/json", `{"username":"alice","password":"pw"}{}`, false, "")
	f.Add("application/json", `{"username":"alice","password":"`+strings.Repeat("x", 1025)+`"}`, false, "")
	f.Add("application/json;charset=utf-8", "eyJ1c2VybmFtZSI6ImEiLCJwYXNzd29yZCI6ImIifQ==", true, "")
	f.Add("text/plain", `{"username":"alice","password":"pw"}`, false, "")
	f.Add("application/json", `{"username":"аlice","password":"pw","admin":true}`, false, "")
	f.Fuzz(func(t *testing.T, ctype, body string, b64 bool, origin string) {
		checks.Store(0)
		tooLong.Store(0)
		req := Request{Headers: map[string]string{"content-type": ctype}, Body: body, IsBase64Encoded: b64}
		if origin != "" {
			req.Headers["origin"] = origin
		}
		resp, err := login(context.Background(), req)
		if err != nil {
			t.Fatalf("handler error (a 500 at API Gateway): %v", err)
		}
		var e ErrorBody
		if !slices.Contains([]int{400, 401, 413, 415}, resp.StatusCode) || json.Unmarshal([]byte(resp.Body), &e) != nil ||
			e.Error == "" || e.Message == "" || resp.Headers["content-type"] != "application/json" || len(resp.Cookies) != 0 {
			t.Fatalf("answer %d %q %v", resp.StatusCode, resp.Body, resp.Cookies)
		}
		want := int32(0)
		if resp.StatusCode == 401 {
			want = 1
		}
		if got := checks.Load(); got != want {
			t.Fatalf("status %d after %d password checks, want %d", resp.StatusCode, got, want)
		}
		if tooLong.Load() != 0 {
			t.Fatal("a password out of bounds reached the password check")
		}
	})
}
