package app_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
	"github.com/authkit/lambda-auth/shared/token"
)

// TestEventFixtures feeds every sample in events/ (the ones `sam local
// invoke` uses) through the real handler of its function.
func TestEventFixtures(t *testing.T) {
	env := testenv.New(t)
	user := env.CreateUser(t, "alice@example.com", "correct horse battery staple", "openid", "profile")
	env.Set("ALLOWED_ORIGINS", "https://app.example.com") // the samples' origin
	s := newService(t, env)

	resp := call(t, s.login, httpEvent(t, "login"))
	if resp.StatusCode != 200 {
		t.Fatalf("events/login.json: %d %s", resp.StatusCode, resp.Body)
	}
	tok := s.readTokens(t, resp)

	resp = call(t, s.jwks, httpEvent(t, "jwks"))
	var doc token.JWKS
	if err := json.Unmarshal([]byte(resp.Body), &doc); err != nil || resp.StatusCode != 200 {
		t.Fatalf("events/jwks.json: %d %s", resp.StatusCode, resp.Body)
	}
	if len(doc.Keys) != 1 || doc.Keys[0].Kty != "EC" || doc.Keys[0].Alg != "ES256" || doc.Keys[0].Use != "sig" {
		t.Errorf("jwks %+v", doc)
	}
	if !strings.Contains(resp.Headers["cache-control"], "max-age=") {
		t.Errorf("jwks cache-control %q", resp.Headers["cache-control"])
	}
	if kid := headerKID(t, tok.Access); kid != doc.Keys[0].Kid {
		t.Errorf("token kid %s not in the JWKS (%s)", kid, doc.Keys[0].Kid)
	}

	for _, name := range []string{"authorizer", "authorizer-rest-token", "authorizer-rest-request"} {
		t.Run(name, func(t *testing.T) {
			out, err := s.authorizer(context.Background(), fixture(t, name, "REPLACE_WITH_ACCESS_TOKEN", tok.Access))
			if err != nil {
				t.Fatalf("valid token: %v", err)
			}
			assertAllowed(t, out)
			out, err = s.authorizer(context.Background(), fixture(t, name))
			assertDenied(t, out, err)
		})
	}

	resp = call(t, s.me, httpEvent(t, "me"))
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `"sub"`) {
		t.Errorf("events/me.json: %d %s", resp.StatusCode, resp.Body)
	}

	resp = call(t, s.refresh, httpEvent(t, "refresh", "REPLACE_WITH_REFRESH_TOKEN", tok.Refresh))
	if resp.StatusCode != 200 {
		t.Fatalf("events/refresh.json: %d %s", resp.StatusCode, resp.Body)
	}
	next := s.readTokens(t, resp)

	resp = call(t, s.logout, httpEvent(t, "logout", "REPLACE_WITH_REFRESH_TOKEN", next.Refresh))
	if resp.StatusCode != 204 || !strings.Contains(strings.Join(resp.Cookies, ";"), "Max-Age=0") {
		t.Fatalf("events/logout.json: %d %v %s", resp.StatusCode, resp.Cookies, resp.Body)
	}
	if ok, _ := s.authorize(t, next.Access); ok {
		t.Error("access token allowed after logout")
	}
	if resp := call(t, s.refresh, httpEvent(t, "refresh", "REPLACE_WITH_REFRESH_TOKEN", next.Refresh)); resp.StatusCode != 401 {
		t.Errorf("refresh after logout: %d", resp.StatusCode)
	}

	// The session list and ending a device, as the fixtures' caller: the
	// authorizer context is the demo user's, here the test user's.
	asUser := []string{localapi.DemoUserID, user.ID}
	other := s.doLogin(t, "alice@example.com", "correct horse battery staple")
	resp = call(t, s.sessionList, httpEvent(t, "sessions", asUser...))
	var list apigw.SessionsResponse
	if err := json.Unmarshal([]byte(resp.Body), &list); err != nil || resp.StatusCode != 200 ||
		len(list.Sessions) != 1 || list.Sessions[0].ID != other.Refresh[:32] {
		t.Fatalf("events/sessions.json: %d %s (the one live session is %s)", resp.StatusCode, resp.Body, other.Refresh[:32])
	}
	resp = call(t, s.endSession, httpEvent(t, "end-session", append(asUser, "REPLACE_WITH_SESSION_ID", other.Refresh[:32])...))
	if resp.StatusCode != 204 {
		t.Fatalf("events/end-session.json: %d %s", resp.StatusCode, resp.Body)
	}
	if resp := call(t, s.refresh, httpEvent(t, "refresh", "REPLACE_WITH_REFRESH_TOKEN", other.Refresh)); resp.StatusCode != 401 {
		t.Errorf("refresh of the ended device: %d", resp.StatusCode)
	}
	resp = call(t, s.endSession, httpEvent(t, "end-session", "REPLACE_WITH_SESSION_ID", other.Refresh[:32]))
	if resp.StatusCode != 404 {
		t.Errorf("events/end-session.json as the demo user, not the session's: %d %s", resp.StatusCode, resp.Body)
	}

	resp = call(t, s.logoutAll, httpEvent(t, "logout-all"))
	if resp.StatusCode != 204 {
		t.Errorf("events/logout-all.json: %d %s", resp.StatusCode, resp.Body)
	}

	// The OAuth endpoints' samples: metadata, introspection, the token
	// endpoint's form, RFC 7009 revocation.
	resp = call(t, s.discovery, httpEvent(t, "discovery"))
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `"issuer":"https://auth.test.example"`) {
		t.Errorf("events/discovery.json: %d %s", resp.StatusCode, resp.Body)
	}
	s.clock.Advance(time.Second) // after logout-all
	again := s.doLogin(t, "alice@example.com", "correct horse battery staple")
	resp = call(t, s.introspect, httpEvent(t, "token-introspection", "REPLACE_WITH_ACCESS_TOKEN", again.Access))
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `"active":true`) {
		t.Errorf("events/token-introspection.json: %d %s", resp.StatusCode, resp.Body)
	}
	resp = call(t, s.refresh, httpEvent(t, "refresh-oauth", "REPLACE_WITH_REFRESH_TOKEN", again.Refresh))
	body := tokenBody(t, resp)
	if resp.StatusCode != 200 || body.RefreshToken == "" || len(resp.Cookies) != 0 {
		t.Fatalf("events/refresh-oauth.json: %d %s", resp.StatusCode, resp.Body)
	}
	resp = call(t, s.revocation, httpEvent(t, "token-revocation", "REPLACE_WITH_REFRESH_TOKEN", body.RefreshToken))
	if resp.StatusCode != 200 {
		t.Errorf("events/token-revocation.json: %d %s", resp.StatusCode, resp.Body)
	}
	if resp := s.grant(t, body.RefreshToken); resp.StatusCode != 400 {
		t.Errorf("refresh after events/token-revocation.json: %d, want 400", resp.StatusCode)
	}

	for _, name := range []string{"revoke-jti", "revoke-session", "revoke-user"} {
		var ev map[string]string
		json.Unmarshal(fixture(t, name), &ev)
		res, err := s.revoke(context.Background(), fixture(t, name))
		if err != nil {
			t.Errorf("events/%s.json: %v", name, err)
			continue
		}
		id := ev["jti"] + ev["session_id"] + ev["user_id"]
		if res.ID != id || res.Reason != ev["reason"] || !res.ExpiresAt.After(res.RevokedAt) {
			t.Errorf("events/%s.json: %+v", name, res)
		}
	}

	// The global cutoff (the key-compromise runbook's first step): the
	// token of the login above is denied after it, a login after it lives.
	var all struct {
		All    bool
		Reason string
	}
	json.Unmarshal(fixture(t, "revoke-all"), &all)
	s.clock.Advance(time.Second)
	res, err := s.revoke(context.Background(), fixture(t, "revoke-all"))
	if err != nil || !all.All || res.Revoked != "all" || res.Key != "all#*" || res.Reason != all.Reason || all.Reason == "" {
		t.Errorf("events/revoke-all.json: %+v %v", res, err)
	}
	s.clock.Advance(time.Millisecond)
	if ok, _ := s.authorize(t, again.Access); ok {
		t.Error("after events/revoke-all.json, a token issued before it is allowed")
	}
	if ok, _ := s.authorize(t, s.doLogin(t, "alice@example.com", "correct horse battery staple").Access); !ok {
		t.Error("after events/revoke-all.json, a new login's token is denied")
	}
}

// TestRevocationFeedFixture: events/revocation-feed.json, a stream batch
// as Lambda delivers it (a jti entry typed in the console, then a TTL
// deletion), is handled without batch item failures and puts the typed
// entry, and only it, into the feed.
func TestRevocationFeedFixture(t *testing.T) {
	env := testenv.New(t)
	s := newService(t, env)
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(fixture(t, "revocation-feed"), &ev); err != nil {
		t.Fatal(err)
	}
	resp, err := s.revocationFeed(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("events/revocation-feed.json: %+v %v", resp, err)
	}
	got, err := env.Store.RevocationsSince(context.Background(), s.clock.Now().Add(-time.Minute), s.clock.Now().Add(time.Minute))
	if err != nil || len(got.Entries) != 1 || got.Entries[0].Value != "typed-in-the-console" || got.Entries[0].Reason != "leaked in a support ticket" {
		t.Fatalf("feed after events/revocation-feed.json: %+v %v, want the typed jti entry only", got, err)
	}
}

// TestEveryFunctionHasAFixture keeps events/ complete.
func TestEveryFunctionHasAFixture(t *testing.T) {
	root := testenv.RepoRoot(t)
	dirs, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		matches, _ := filepath.Glob(filepath.Join(root, "events", d.Name()+"*.json"))
		if len(matches) == 0 {
			t.Errorf("functions/%s has no sample event in events/", d.Name())
		}
	}
}

func headerKID(t *testing.T, tok string) string {
	t.Helper()
	var h struct{ Kid string }
	seg, _, _ := strings.Cut(tok, ".")
	b, err := b64(seg)
	if err != nil || json.Unmarshal(b, &h) != nil {
		t.Fatalf("token header: %v", err)
	}
	return h.Kid
}

func assertAllowed(t *testing.T, out any) {
	t.Helper()
	switch r := out.(type) {
	case events.APIGatewayV2CustomAuthorizerSimpleResponse:
		if !r.IsAuthorized || r.Context["sub"] == "" {
			t.Errorf("not allowed: %+v", r)
		}
	case events.APIGatewayCustomAuthorizerResponse:
		st := r.PolicyDocument.Statement
		if len(st) != 1 || st[0].Effect != "Allow" || r.PrincipalID == "" || r.Context["sid"] == nil {
			t.Errorf("not allowed: %+v", r)
		}
		if got := st[0].Resource[0]; !strings.HasSuffix(got, "/prod/*") {
			t.Errorf("policy resource %s, want the stage's methods", got)
		}
	default:
		t.Errorf("unexpected response %T", out)
	}
}

func assertDenied(t *testing.T, out any, err error) {
	t.Helper()
	if err != nil {
		if err.Error() != "Unauthorized" {
			t.Errorf("error %q, want exactly Unauthorized (401 at API Gateway)", err)
		}
		return
	}
	switch r := out.(type) {
	case events.APIGatewayV2CustomAuthorizerSimpleResponse:
		if r.IsAuthorized {
			t.Error("allowed")
		}
	case events.APIGatewayCustomAuthorizerResponse:
		if r.PolicyDocument.Statement[0].Effect != "Deny" {
			t.Error("allowed")
		}
	default:
		t.Errorf("unexpected response %T", out)
	}
}
