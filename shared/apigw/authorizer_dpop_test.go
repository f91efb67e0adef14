package apigw_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/authkit/lambda-auth/scripts/dpopclient"
	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dpop"
	"github.com/authkit/lambda-auth/shared/metrics"
	"github.com/authkit/lambda-auth/shared/token"
)

// dpopNow is the clock of the DPoP tests: tokens, proofs and verifiers.
var dpopNow = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// dpopHarness is an authorizer (replica-less: no revocation) that takes
// DPoP, with the token key, a client key and tokens bound or not.
type dpopHarness struct {
	signer benchKey
	client *dpopclient.Key
	bound  string // bound to client
	plain  string // a bearer token
	logs   *testenv.LogBuffer
}

func newDPoPHarness(t testing.TB) *dpopHarness {
	t.Helper()
	client, err := dpopclient.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	h := &dpopHarness{signer: newBenchKey(t, "ES256"), client: client, logs: &testenv.LogBuffer{}}
	h.bound = issueToken(t, h.signer, client.JKT(), dpopNow)
	h.plain = issueToken(t, h.signer, "", dpopNow)
	return h
}

// handler is the authorizer with its DPoP check over replay, the public
// origin origin.
func (h *dpopHarness) handler(t testing.TB, replay dpop.Replay, origin string) apigw.AuthorizerHandler {
	t.Helper()
	now := func() time.Time { return dpopNow }
	v, err := token.NewVerifier("https://auth.example.com", "https://api.example.com",
		[]token.PublicKey{{KID: h.signer.KeyID(), Alg: "ES256", Key: h.signer.pub}},
		token.WithLeeway(10*time.Second), token.WithTimeFunc(now))
	if err != nil {
		t.Fatal(err)
	}
	pv, err := dpop.NewVerifier(dpop.WithReplay(replay), dpop.WithTimeFunc(now))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(h.logs, nil))
	svc := auth.NewAuthorizer(token.NewCache(v, 100), memRevocations{}, 800*time.Millisecond, auth.Options{Now: now, Logger: log})
	return apigw.Authorizer(svc, log, metrics.New(io.Discard, "authorizer"), apigw.WithResourceDPoP(pv, origin, false))
}

// shape is an authorizer event as API Gateway sends it for one
// deployment: its kind and where the request went.
type shape struct {
	name   string
	kind   string // http (HTTP API, payload 2.0), rest (REST REQUEST)
	domain string
	stage  string
	path   string // rawPath (HTTP API) or requestContext.path (REST)
	origin string // PUBLIC_ORIGIN
	url    string // the public URL the client addressed
}

const execAPI = "abcdef1234.execute-api.us-east-1.amazonaws.com"

var shapes = []shape{
	{"HTTP API, execute-api, $default stage", "http", execAPI, "$default", "/me", "", "https://" + execAPI + "/me"},
	{"HTTP API, execute-api, named stage", "http", execAPI, "prod", "/prod/me", "", "https://" + execAPI + "/prod/me"},
	{"HTTP API, custom domain, root mapping", "http", "api.example.com", "prod", "/me", "", "https://api.example.com/me"},
	{"HTTP API, custom domain, base path v1", "http", "api.example.com", "prod", "/v1/me", "", "https://api.example.com/v1/me"},
	{"HTTP API, scripts/dev (PUBLIC_ORIGIN)", "http", "127.0.0.1:3000", "$default", "/me", "http://127.0.0.1:3000", "http://127.0.0.1:3000/me"},
	{"HTTP API behind a CDN (PUBLIC_ORIGIN)", "http", execAPI, "$default", "/me", "https://www.example.com", "https://www.example.com/me"},
	{"REST, execute-api, stage prod", "rest", execAPI, "prod", "/prod/me", "", "https://" + execAPI + "/prod/me"},
	{"REST, custom domain, base path v1", "rest", "api.example.com", "prod", "/v1/me", "", "https://api.example.com/v1/me"},
}

// event is the authorizer event of s for a GET with these headers (a
// header given twice in dpop goes twice into a REST event's
// multiValueHeaders, joined by a comma in an HTTP API's headers, as API
// Gateway does).
func (s shape) event(t testing.TB, authorization string, dpopHeaders ...string) []byte {
	t.Helper()
	name := map[string]string{"http": "authorizer", "rest": "authorizer-rest-request"}[s.kind]
	var ev map[string]any
	if err := json.Unmarshal(testenv.Event(t, name), &ev); err != nil {
		t.Fatal(err)
	}
	rc := ev["requestContext"].(map[string]any)
	rc["domainName"], rc["stage"] = s.domain, s.stage
	headers := ev["headers"].(map[string]any)
	switch s.kind {
	case "http":
		ev["rawPath"] = s.path
		rc["http"].(map[string]any)["path"] = s.path
		headers["authorization"] = authorization
		headers["host"] = s.domain
		if len(dpopHeaders) > 0 {
			headers["dpop"] = strings.Join(dpopHeaders, ",")
		}
		ev["identitySource"] = []string{authorization}
	case "rest":
		rc["path"] = s.path
		mv := ev["multiValueHeaders"].(map[string]any)
		headers["Authorization"], mv["Authorization"] = authorization, []string{authorization}
		headers["Host"], mv["Host"] = s.domain, []string{s.domain}
		if len(dpopHeaders) > 0 {
			headers["DPoP"], mv["DPoP"] = dpopHeaders[len(dpopHeaders)-1], dpopHeaders
		}
		ev["methodArn"] = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/" + s.stage + "/GET/me"
	}
	// Headers anyone may send, which must not move the URL.
	headers["x-forwarded-host"], headers["x-forwarded-proto"] = "evil.example", "http"
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// allowed runs h on ev and reports its decision, for either kind.
func allowed(t testing.TB, h apigw.AuthorizerHandler, ev []byte) bool {
	t.Helper()
	out, err := h(context.Background(), ev)
	if err != nil {
		if err.Error() != "Unauthorized" {
			t.Fatalf("authorizer error %v, want Unauthorized or a response", err)
		}
		return false
	}
	switch r := out.(type) {
	case events.APIGatewayV2CustomAuthorizerSimpleResponse:
		return r.IsAuthorized
	case events.APIGatewayCustomAuthorizerResponse:
		return r.PolicyDocument.Statement[0].Effect == "Allow"
	}
	t.Fatalf("authorizer answered %T", out)
	return false
}

// TestDPoPPublicURLShapes: for each deployment shape (HTTP and REST APIs,
// execute-api with $default and named stages, custom domains with and
// without a base path, an origin configured for the local API or a CDN),
// a proof naming the URL the client addressed is accepted, and one naming
// the URL with the stage or base path changed, or over http, is refused
// (RFC 9449 4.3 step 9). Forwarded headers change nothing.
func TestDPoPPublicURLShapes(t *testing.T) {
	h := newDPoPHarness(t)
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			az := h.handler(t, dpop.NewMemoryReplay(1000, func() time.Time { return dpopNow }), s.origin)
			good := h.client.Proof("GET", s.url, h.bound, dpopNow)
			if !allowed(t, az, s.event(t, "DPoP "+h.bound, good)) {
				t.Fatalf("proof for %s refused; logs:\n%s", s.url, h.logs)
			}
			for _, wrong := range []string{
				strings.Replace(s.url, "/me", "/other", 1),
				strings.Replace(s.url, "/prod/", "/", 1),
				strings.Replace(s.url, "/v1/", "/", 1),
				strings.Replace(s.url, "/me", "/prod/me", 1),
				strings.Replace(strings.Replace(s.url, "https://", "http://", 1), "http://127.0.0.1", "https://127.0.0.1", 1),
				"https://evil.example/me",
			} {
				if wrong == s.url {
					continue
				}
				if allowed(t, az, s.event(t, "DPoP "+h.bound, h.client.Proof("GET", wrong, h.bound, dpopNow))) {
					t.Errorf("proof for %s accepted at %s", wrong, s.url)
				}
			}
		})
	}
}

// TestDPoPPlainHTTP: with an http:// localhost issuer (scripts/dev) and
// no PUBLIC_ORIGIN, the public URL is http:// + the domain the client
// called, by either of the local API's names; https is refused there, and
// without plainHTTP http is.
func TestDPoPPlainHTTP(t *testing.T) {
	h := newDPoPHarness(t)
	for _, host := range []string{"127.0.0.1:3000", "localhost:3000"} {
		s := shape{"local", "http", host, "$default", "/me", "", "http://" + host + "/me"}
		now := func() time.Time { return dpopNow }
		v, err := token.NewVerifier("https://auth.example.com", "https://api.example.com",
			[]token.PublicKey{{KID: h.signer.KeyID(), Alg: "ES256", Key: h.signer.pub}}, token.WithTimeFunc(now))
		if err != nil {
			t.Fatal(err)
		}
		pv, err := dpop.NewVerifier(dpop.WithReplay(dpop.NewMemoryReplay(100, now)), dpop.WithTimeFunc(now))
		if err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.NewJSONHandler(h.logs, nil))
		svc := auth.NewAuthorizer(v, memRevocations{}, time.Second, auth.Options{Now: now, Logger: log})
		for _, plain := range []bool{true, false} {
			az := apigw.Authorizer(svc, log, metrics.New(io.Discard, "authorizer"), apigw.WithResourceDPoP(pv, "", plain))
			if got := allowed(t, az, s.event(t, "DPoP "+h.bound, h.client.Proof("GET", s.url, h.bound, dpopNow))); got != plain {
				t.Errorf("%s, plainHTTP %v: an http proof allowed %v", host, plain, got)
			}
			if allowed(t, az, s.event(t, "DPoP "+h.bound, h.client.Proof("GET", "https://"+host+"/me", h.bound, dpopNow))) != !plain {
				t.Errorf("%s, plainHTTP %v: an https proof decided wrong", host, plain)
			}
		}
	}
}

// TestDPoPResourceChecks: each check the resource side adds (RFC 9449
// 4.3, 7.1, 7.2, 11.1), through the authorizer handler for both event
// kinds: the control row is allowed, and each other row changes one thing
// and is refused. A row passing means its check is gone.
func TestDPoPResourceChecks(t *testing.T) {
	h := newDPoPHarness(t)
	other, err := dpopclient.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	otherBound := issueToken(t, h.signer, other.JKT(), dpopNow)
	for _, s := range []shape{shapes[0], shapes[6]} {
		t.Run(s.kind, func(t *testing.T) {
			replay := dpop.NewMemoryReplay(1000, func() time.Time { return dpopNow })
			az := h.handler(t, replay, s.origin)
			proof := func(edit func(*dpopclient.Claims)) string {
				c := dpopclient.NewClaims("GET", s.url, h.bound, dpopNow)
				if edit != nil {
					edit(&c)
				}
				return h.client.Sign(c)
			}
			replayed := proof(nil)
			if !allowed(t, az, s.event(t, "DPoP "+h.bound, replayed)) {
				t.Fatalf("control refused; logs:\n%s", h.logs)
			}
			rows := []struct {
				name          string
				authorization string
				proofs        []string
				want          bool
			}{
				{"control: a new proof", "DPoP " + h.bound, []string{proof(nil)}, true},
				{"control: a bearer token as Bearer", "Bearer " + h.plain, nil, true},
				{"control: the scheme in lower case (RFC 9110 11.1)", "dpop " + h.bound, []string{proof(nil)}, true},
				{"7.2: a bound token sent as Bearer", "Bearer " + h.bound, nil, false},
				{"7.2: a bound token sent as Bearer, with a good proof", "Bearer " + h.bound, []string{proof(nil)}, false},
				{"7.1: an unbound token with the DPoP scheme", "DPoP " + h.plain, []string{h.client.Proof("GET", s.url, h.plain, dpopNow)}, false},
				{"7.1: no DPoP header", "DPoP " + h.bound, nil, false},
				{"4.3 step 1: two DPoP headers", "DPoP " + h.bound, []string{proof(nil), proof(nil)}, false},
				{"4.3 step 12: ath of another token", "DPoP " + h.bound, []string{proof(func(c *dpopclient.Claims) { c.ATH = dpopclient.ATH(h.plain) })}, false},
				{"4.3 step 12: no ath", "DPoP " + h.bound, []string{proof(func(c *dpopclient.Claims) { c.ATH = "" })}, false},
				{"4.3 step 8: htm POST for a GET", "DPoP " + h.bound, []string{proof(func(c *dpopclient.Claims) { c.HTM = "POST" })}, false},
				{"4.3 step 9: htu of another path", "DPoP " + h.bound, []string{proof(func(c *dpopclient.Claims) { c.HTU = s.url + "x" })}, false},
				{"4.3 step 11: iat 61 s ago", "DPoP " + h.bound, []string{proof(func(c *dpopclient.Claims) { c.IAT = dpopNow.Add(-61 * time.Second) })}, false},
				{"4.3 step 11: iat 11 s ahead", "DPoP " + h.bound, []string{proof(func(c *dpopclient.Claims) { c.IAT = dpopNow.Add(11 * time.Second) })}, false},
				{"6.1: the proof of another key", "DPoP " + h.bound, []string{other.Proof("GET", s.url, h.bound, dpopNow)}, false},
				{"6.1: a token bound to another key", "DPoP " + otherBound, []string{h.client.Proof("GET", s.url, otherBound, dpopNow)}, false},
				{"11.1: the same proof again", "DPoP " + h.bound, []string{replayed}, false},
				{"a proof that is not a JWT", "DPoP " + h.bound, []string{"not-a-proof"}, false},
			}
			for _, row := range rows {
				if got := allowed(t, az, s.event(t, row.authorization, row.proofs...)); got != row.want {
					t.Errorf("%s: allowed %v, want %v; logs:\n%s", row.name, got, row.want, h.logs)
				}
			}
		})
	}
	t.Run("4.3 step 8: htm is the event's method", func(t *testing.T) {
		az := h.handler(t, dpop.NewMemoryReplay(1000, nil), "")
		for _, s := range []shape{shapes[0], shapes[6]} {
			ev := string(s.event(t, "DPoP "+h.bound, h.client.Proof("DELETE", s.url, h.bound, dpopNow)))
			if allowed(t, az, []byte(ev)) {
				t.Errorf("%s: a DELETE proof for a GET allowed", s.kind)
			}
			ev = string(s.event(t, "DPoP "+h.bound, h.client.Proof("DELETE", s.url, h.bound, dpopNow)))
			for _, m := range []string{`"method":"GET"`, `"httpMethod":"GET"`} {
				ev = strings.ReplaceAll(ev, m, strings.Replace(m, "GET", "DELETE", 1))
			}
			if !allowed(t, az, []byte(ev)) {
				t.Errorf("%s: a DELETE proof for a DELETE refused; logs:\n%s", s.kind, h.logs)
			}
		}
	})
	t.Run("TOKEN authorizer: no proof, no URL", func(t *testing.T) {
		az := h.handler(t, dpop.NewMemoryReplay(1000, nil), "")
		ev := testenv.Event(t, "authorizer-rest-token", "Bearer REPLACE_WITH_ACCESS_TOKEN", "DPoP "+h.bound)
		if allowed(t, az, ev) {
			t.Error("a TOKEN authorizer allowed a DPoP token it cannot check a proof for")
		}
	})
}

// TestDPoPOddEvents: an event API Gateway does not send (a field read for
// the URL given twice or in another case) is refused, not read as some
// other URL.
func TestDPoPOddEvents(t *testing.T) {
	h := newDPoPHarness(t)
	az := h.handler(t, dpop.NewMemoryReplay(1000, nil), "")
	s := shapes[0]
	good := string(s.event(t, "DPoP "+h.bound, h.client.Proof("GET", s.url, h.bound, dpopNow)))
	for name, edit := range map[string]func(string) string{
		"domainName twice": func(e string) string {
			return strings.Replace(e, `"domainName":`, `"domainName":"evil.example","domainName":`, 1)
		},
		"DomainName and domainName": func(e string) string {
			return strings.Replace(e, `"domainName":`, `"DomainName":"evil.example","domainName":`, 1)
		},
		"rawPath twice":  func(e string) string { return strings.Replace(e, `"rawPath":`, `"rawPath":"/x","rawPath":`, 1) },
		"method twice":   func(e string) string { return strings.Replace(e, `"method":`, `"method":"POST","method":`, 1) },
		"escaped header": func(e string) string { return strings.Replace(e, `"dpop":`, `"\u0064pop":`, 1) },
	} {
		ev := edit(good)
		if ev == good {
			t.Fatalf("%s: the edit changed nothing", name)
		}
		if allowed(t, az, []byte(ev)) {
			t.Errorf("%s: allowed", name)
		}
	}
}

// failingReplay is a replay store that cannot answer (DynamoDB down).
type failingReplay struct{}

func (failingReplay) Seen(context.Context, string, string, time.Time) (bool, error) {
	return false, errors.New("connection refused")
}

// TestDPoPReplayStoreDownDenies: a replay store that cannot tell denies
// the DPoP request (fail closed) and counts the store as unavailable;
// bearer requests do not use it.
func TestDPoPReplayStoreDownDenies(t *testing.T) {
	h := newDPoPHarness(t)
	s := shapes[0]
	az := h.handler(t, failingReplay{}, "")
	if allowed(t, az, s.event(t, "DPoP "+h.bound, h.client.Proof("GET", s.url, h.bound, dpopNow))) {
		t.Fatal("allowed with the replay store down")
	}
	if !strings.Contains(h.logs.String(), "unavailable") {
		t.Errorf("the denial does not say the store is unavailable:\n%s", h.logs)
	}
	if !allowed(t, az, s.event(t, "Bearer "+h.plain)) {
		t.Error("a bearer request denied: it needs no replay store")
	}
}
