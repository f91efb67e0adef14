package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"gopkg.in/yaml.v3"

	"github.com/aws/aws-lambda-go/events"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
	"github.com/authkit/lambda-auth/shared/app"
	"github.com/authkit/lambda-auth/shared/app/passkeyapp"
	"github.com/authkit/lambda-auth/shared/metrics"
	"github.com/authkit/lambda-auth/shared/replica"
	"github.com/authkit/lambda-auth/shared/token"
)

// clock is a shared, movable clock for every function of one test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

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

// service is every function of the service wired against one test
// environment, as their main.go files wire them.
type service struct {
	env         *testenv.Env
	clock       *clock
	calls       *testenv.Counter
	logs        *testenv.LogBuffer
	metrics     *testenv.EMFLog // this service's metric lines (every one also goes to suiteMetrics)
	login       apigw.Handler
	refresh     apigw.Handler
	logout      apigw.Handler
	logoutAll   apigw.Handler
	me          apigw.Handler
	jwks        apigw.Handler
	discovery   apigw.Handler
	revocation  apigw.Handler // RFC 7009, POST /auth/revoke
	introspect  apigw.Handler // RFC 7662, POST /auth/introspect
	sessionList apigw.Handler
	endSession  apigw.Handler
	passkeys    apigw.Handler // a signed-in user's passkeys
	passkeyIn   apigw.Handler // the passkey sign-in
	totp        apigw.Handler // the TOTP routes (/auth/mfa/totp)
	authorizer  func(context.Context, json.RawMessage) (any, error)
	revoke      func(context.Context, json.RawMessage) (apigw.RevokeResult, error)
	// the Revocations table's stream into the feed
	revocationFeed func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error)
}

func newService(t *testing.T, env *testenv.Env) *service {
	t.Helper()
	return newServiceWith(t, env, nil)
}

// newServiceWith wires the functions with extra options for some of them,
// by the template's logical id (LoginFunction...).
func newServiceWith(t *testing.T, env *testenv.Env, extra map[string][]app.Option) *service {
	t.Helper()
	return wire(t, env, extra, true)
}

// newServiceByInterval is newServiceWith with the authorizer's replica
// reading the feed at its configured interval (REVOCATION_SYNC), as in
// production: for the tests of the interval itself and of the calls it
// makes.
func newServiceByInterval(t *testing.T, env *testenv.Env, extra map[string][]app.Option) *service {
	t.Helper()
	return wire(t, env, extra, false)
}

// syncEveryLookup makes a replica read the feed before every lookup: the
// clock of these tests stands still unless moved, so in replica mode each
// revocation rule runs through the feed path and is seen at once, as in
// strict mode. It is the production rule with a sync interval of 1 ns
// and a replica clock that moves on by a microsecond at each reading
// (past that interval), not a switch in replica.Options.
func syncEveryLookup(o *replica.Options) {
	now := o.Now
	var ticks atomic.Int64
	o.Now = func() time.Time { return now().Add(time.Duration(ticks.Add(1)) * time.Microsecond) }
	o.SyncInterval = time.Nanosecond
}

// wire wires every function; everyLookup: the authorizer's replica reads
// the feed before every decision (syncEveryLookup).
func wire(t *testing.T, env *testenv.Env, extra map[string][]app.Option, everyLookup bool) *service {
	t.Helper()
	s := &service{env: env, clock: newClock(), calls: testenv.NewCounter(), logs: &testenv.LogBuffer{}, metrics: &testenv.EMFLog{}}
	log := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := func(id string) []app.Option {
		o := []app.Option{app.WithAWSOptions(s.calls.Option()), app.WithClock(s.clock.Now), app.WithLogger(log),
			// Every metric line, checked against the EMF rules as it is
			// written (metrics_test.go); the authorizer writes one per
			// decision instead of gathering them.
			app.WithMetrics(io.MultiWriter(s.metrics, suiteMetrics), metrics.WithFlushInterval(0)),
		}
		if everyLookup {
			o = append(o, app.WithReplicaOptions(syncEveryLookup))
		}
		return append(o, extra[id]...)
	}
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("wire: %v", err)
		}
	}
	var err error
	s.login, err = app.Login(ctx, env.Getenv, opts("LoginFunction")...)
	must(err)
	s.refresh, err = app.Refresh(ctx, env.Getenv, opts("RefreshFunction")...)
	must(err)
	s.logout, err = app.Logout(ctx, env.Getenv, opts("LogoutFunction")...)
	must(err)
	s.logoutAll, err = app.LogoutAll(ctx, env.Getenv, opts("LogoutAllFunction")...)
	must(err)
	s.me, err = app.Me(ctx, env.Getenv, opts("MeFunction")...)
	must(err)
	s.jwks, err = app.JWKS(ctx, env.Getenv, opts("JWKSFunction")...)
	must(err)
	s.discovery, err = app.Discovery(ctx, env.Getenv, opts("DiscoveryFunction")...)
	must(err)
	s.revocation, err = app.TokenRevocation(ctx, env.Getenv, opts("TokenRevocationFunction")...)
	must(err)
	s.introspect, err = app.TokenIntrospection(ctx, env.Getenv, opts("TokenIntrospectionFunction")...)
	must(err)
	s.authorizer, err = app.Authorizer(ctx, env.Getenv, opts("AuthorizerFunction")...)
	must(err)
	s.revoke, err = app.Revoke(ctx, env.Getenv, opts("RevokeFunction")...)
	must(err)
	s.revocationFeed, err = app.RevocationFeed(ctx, env.Getenv, opts("RevocationFeedFunction")...)
	must(err)
	s.sessionList, err = app.Sessions(ctx, env.Getenv, opts("SessionsFunction")...)
	must(err)
	s.endSession, err = app.EndSession(ctx, env.Getenv, opts("EndSessionFunction")...)
	must(err)
	s.passkeys, err = passkeyapp.Passkeys(ctx, env.Getenv, opts("PasskeysFunction")...)
	must(err)
	s.passkeyIn, err = passkeyapp.PasskeySignIn(ctx, env.Getenv, opts("PasskeyLoginFunction")...)
	must(err)
	s.totp, err = app.TOTP(ctx, env.Getenv, opts("TotpFunction")...)
	must(err)
	s.calls.Reset()
	return s
}

func fixture(t *testing.T, name string, replace ...string) []byte {
	t.Helper()
	return testenv.Event(t, name, replace...)
}

// httpEvent reads a payload 2.0 fixture.
func httpEvent(t *testing.T, name string, replace ...string) apigw.Request {
	t.Helper()
	var req apigw.Request
	if err := json.Unmarshal(fixture(t, name, replace...), &req); err != nil {
		t.Fatalf("events/%s.json: %v", name, err)
	}
	return req
}

func call(t *testing.T, h apigw.Handler, req apigw.Request) apigw.Response {
	t.Helper()
	resp, err := h(context.Background(), req)
	if err != nil {
		t.Fatalf("handler returned an error (a 500 at API Gateway): %v", err)
	}
	if resp.StatusCode >= 500 {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
	}
	if resp.StatusCode != 204 && resp.Headers["content-type"] == "" {
		t.Errorf("status %d without content-type", resp.StatusCode)
	}
	return resp
}

type tokens struct {
	Access  string
	Refresh string
	Resp    apigw.Response
}

func loginEvent(t *testing.T, username, password string) apigw.Request {
	t.Helper()
	req := httpEvent(t, "login")
	b, _ := json.Marshal(map[string]string{"username": username, "password": password})
	req.Body = string(b)
	return req
}

func (s *service) doLogin(t *testing.T, username, password string) tokens {
	t.Helper()
	resp := call(t, s.login, loginEvent(t, username, password))
	if resp.StatusCode != 200 {
		t.Fatalf("login: status %d: %s", resp.StatusCode, resp.Body)
	}
	return s.readTokens(t, resp)
}

func (s *service) readTokens(t *testing.T, resp apigw.Response) tokens {
	t.Helper()
	var body apigw.TokenResponse
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("token response: %v", err)
	}
	if body.TokenType != "Bearer" || body.AccessToken == "" || body.ExpiresIn <= 0 {
		t.Fatalf("token response %+v", body)
	}
	return tokens{Access: body.AccessToken, Refresh: cookieValue(t, resp, s.env.Getenv("REFRESH_COOKIE_NAME")), Resp: resp}
}

// cookieValue returns the refresh cookie set by resp.
func cookieValue(t *testing.T, resp apigw.Response, name string) string {
	t.Helper()
	if name == "" {
		name = "__Secure-refresh_token"
	}
	for _, c := range resp.Cookies {
		if v, ok := strings.CutPrefix(c, name+"="); ok {
			return strings.SplitN(v, ";", 2)[0]
		}
	}
	return ""
}

func (s *service) refreshWith(t *testing.T, refresh string) apigw.Response {
	t.Helper()
	req := httpEvent(t, "refresh", "REPLACE_WITH_REFRESH_TOKEN", refresh)
	req.Headers["origin"] = "https://app.test.example"
	return call(t, s.refresh, req)
}

// authorize runs the HTTP API authorizer on a token and returns whether it
// allowed, and the context it passes on.
func (s *service) authorize(t *testing.T, access string) (bool, map[string]any) {
	t.Helper()
	out, err := s.authorizer(context.Background(), fixture(t, "authorizer", "REPLACE_WITH_ACCESS_TOKEN", access))
	if err != nil {
		t.Fatalf("HTTP API authorizer returned an error: %v", err)
	}
	r, ok := out.(events.APIGatewayV2CustomAuthorizerSimpleResponse)
	if !ok {
		t.Fatalf("authorizer returned %T, want a simple response", out)
	}
	if !r.IsAuthorized && r.Context != nil {
		t.Errorf("deny with a context: %v", r.Context)
	}
	return r.IsAuthorized, r.Context
}

// protected builds a request for a protected route as API Gateway does
// after the authorizer allowed: its context under authorizer.lambda.
func protected(t *testing.T, name string, authCtx map[string]any) apigw.Request {
	t.Helper()
	req := httpEvent(t, name)
	// Through JSON, as API Gateway delivers it (numbers become float64).
	b, _ := json.Marshal(authCtx)
	var lambdaCtx map[string]any
	json.Unmarshal(b, &lambdaCtx)
	req.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: lambdaCtx}
	return req
}

func errorCode(t *testing.T, resp apigw.Response) string {
	t.Helper()
	var e apigw.ErrorBody
	if err := json.Unmarshal([]byte(resp.Body), &e); err != nil || e.Error == "" || e.Message == "" {
		t.Fatalf("status %d: body %q is not a JSON error", resp.StatusCode, resp.Body)
	}
	// RFC 6749 5.2: error_description, printable ASCII without '"' and '\\'.
	if e.ErrorDescription == "" || strings.ContainsFunc(e.ErrorDescription, func(r rune) bool { return r < 0x20 || r > 0x7e || r == '"' || r == '\\' }) {
		t.Errorf("status %d: error_description %q is not RFC 6749 5.2 text", resp.StatusCode, e.ErrorDescription)
	}
	return e.Error
}

func b64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// claimsOf reads an access token's claims without checking the token
// (the authorizer's tests check it).
func claimsOf(t *testing.T, access string) token.Claims {
	t.Helper()
	parts := strings.Split(access, ".")
	if len(parts) != 3 {
		t.Fatalf("access token %q is not a JWS", access)
	}
	var c token.Claims
	b, err := b64(parts[1])
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		t.Fatalf("access token payload: %v", err)
	}
	return c
}

// bodyRefresh is a JSON refresh with the token in the body (a non-browser
// client): no cookie, no Origin.
func bodyRefresh(t *testing.T, refresh string) apigw.Request {
	t.Helper()
	req := httpEvent(t, "refresh")
	req.Cookies = nil
	req.Headers = map[string]string{"content-type": "application/json"}
	req.Body = `{"refresh_token":"` + refresh + `"}`
	return req
}

// streamRecord is the stream record of a table item written by an INSERT
// or MODIFY (its new image only), as Lambda hands it to the
// revocation-feed function.
func streamRecord(name, seq string, item map[string]ddbtypes.AttributeValue) events.DynamoDBEventRecord {
	img := map[string]events.DynamoDBAttributeValue{}
	for k, v := range item {
		switch v := v.(type) {
		case *ddbtypes.AttributeValueMemberS:
			img[k] = events.NewStringAttribute(v.Value)
		case *ddbtypes.AttributeValueMemberN:
			img[k] = events.NewNumberAttribute(v.Value)
		}
	}
	return events.DynamoDBEventRecord{EventName: name, EventSource: "aws:dynamodb",
		Change: events.DynamoDBStreamRecord{Keys: map[string]events.DynamoDBAttributeValue{"pk": img["pk"]},
			NewImage: img, SequenceNumber: seq, StreamViewType: "NEW_AND_OLD_IMAGES"}}
}

// templateResources is the Resources mapping of template.yaml, as a YAML
// node (the tests read the template's own text, intrinsics and all).
func templateResources(t *testing.T) *yaml.Node {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return get(doc.Content[0], "Resources")
}
