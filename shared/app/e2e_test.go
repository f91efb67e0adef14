package app_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
)

// TestEndToEnd walks the whole life of a user through the real handlers,
// real local KMS and real local DynamoDB: login, a protected call, refresh
// with rotation, reuse of the old refresh token revoking the session, login
// again, logout-all, and a console revoke of one access token.
func TestEndToEnd(t *testing.T) {
	env := testenv.New(t)
	user := env.CreateUser(t, "alice@example.com", "correct horse battery staple", "read", "write")
	s := newService(t, env)

	// Login.
	first := s.doLogin(t, "Alice@Example.com", "correct horse battery staple")
	if first.Refresh == "" {
		t.Fatal("login set no refresh cookie")
	}
	cookie := first.Resp.Cookies[0]
	for _, attr := range []string{"HttpOnly", "Secure", "SameSite=Strict", "Path=/auth", "Max-Age="} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("refresh cookie %q lacks %s", cookie, attr)
		}
	}
	if strings.Contains(first.Resp.Body, first.Refresh) {
		t.Error("refresh token in the body of a cookie login")
	}

	// /me through the authorizer.
	ok, authCtx := s.authorize(t, first.Access)
	if !ok {
		t.Fatalf("fresh access token denied; logs:\n%s", s.logs)
	}
	resp := call(t, s.me, protected(t, "me", authCtx))
	var me map[string]any
	json.Unmarshal([]byte(resp.Body), &me)
	if resp.StatusCode != 200 || me["sub"] != user.ID || me["scope"] != "read write" || me["client_id"] != "web" {
		t.Fatalf("/me = %d %s, want sub %s", resp.StatusCode, resp.Body, user.ID)
	}

	// Refresh rotates.
	s.clock.Advance(time.Second)
	resp = s.refreshWith(t, first.Refresh)
	if resp.StatusCode != 200 {
		t.Fatalf("refresh: %d %s", resp.StatusCode, resp.Body)
	}
	second := s.readTokens(t, resp)
	if second.Refresh == "" || second.Refresh == first.Refresh {
		t.Fatalf("refresh did not rotate the refresh token")
	}
	if ok, _ := s.authorize(t, second.Access); !ok {
		t.Fatal("refreshed access token denied")
	}

	// The old refresh token, reused after the grace window: the session is
	// revoked, with its refresh token and its access tokens.
	s.clock.Advance(10 * time.Second)
	resp = s.refreshWith(t, first.Refresh)
	if resp.StatusCode != 401 || errorCode(t, resp) != "invalid_refresh_token" {
		t.Fatalf("reused refresh token: %d %s, want 401", resp.StatusCode, resp.Body)
	}
	if resp = s.refreshWith(t, second.Refresh); resp.StatusCode != 401 {
		t.Fatalf("current refresh token of a revoked session: %d %s, want 401", resp.StatusCode, resp.Body)
	}
	for name, tok := range map[string]string{"first": first.Access, "second": second.Access} {
		if ok, _ := s.authorize(t, tok); ok {
			t.Errorf("%s access token of the revoked session still allowed", name)
		}
	}

	// Login again: a new session works.
	third := s.doLogin(t, "alice@example.com", "correct horse battery staple")
	ok, authCtx = s.authorize(t, third.Access)
	if !ok {
		t.Fatal("access token of a new session denied")
	}
	other := s.doLogin(t, "alice@example.com", "correct horse battery staple") // a second device

	// Logout of all devices: every token already issued is denied at once.
	resp = call(t, s.logoutAll, protected(t, "logout-all", authCtx))
	if resp.StatusCode != 204 {
		t.Fatalf("logout-all: %d %s", resp.StatusCode, resp.Body)
	}
	for name, tok := range map[string]string{"this device": third.Access, "other device": other.Access} {
		if ok, _ := s.authorize(t, tok); ok {
			t.Errorf("%s: access token allowed after logout-all", name)
		}
	}
	for name, tok := range map[string]string{"this device": third.Refresh, "other device": other.Refresh} {
		if resp := s.refreshWith(t, tok); resp.StatusCode != 401 {
			t.Errorf("%s: refresh after logout-all: %d %s", name, resp.StatusCode, resp.Body)
		}
	}

	// A login after logout-all is not affected by it.
	s.clock.Advance(time.Second)
	fourth := s.doLogin(t, "alice@example.com", "correct horse battery staple")
	ok, authCtx = s.authorize(t, fourth.Access)
	if !ok {
		t.Fatalf("login after logout-all denied; logs:\n%s", s.logs)
	}

	// Revoke one access token from the console: that token is denied, the
	// session goes on.
	jti := authCtx["jti"].(string)
	res, err := s.revoke(context.Background(), fixture(t, "revoke-jti", `"jti": "`+jtiInFixture(t)+`"`, `"jti": "`+jti+`"`))
	if err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if res.Revoked != "token" || res.ID != jti || res.Key != "jti#"+jti {
		t.Fatalf("revoke result %+v", res)
	}
	if ok, _ := s.authorize(t, fourth.Access); ok {
		t.Fatal("revoked access token still allowed")
	}
	resp = s.refreshWith(t, fourth.Refresh)
	if resp.StatusCode != 200 {
		t.Fatalf("refresh after revoking one access token: %d %s", resp.StatusCode, resp.Body)
	}
	if ok, _ := s.authorize(t, s.readTokens(t, resp).Access); !ok {
		t.Fatal("new access token of the same session denied after one jti was revoked")
	}

	// No secret reached a log line.
	logs := s.logs.String()
	for name, secret := range map[string]string{
		"password": "correct horse battery staple", "access token": first.Access, "refresh token": first.Refresh,
		"rotated refresh token": second.Refresh, "latest access token": fourth.Access,
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("a log line contains the %s", name)
		}
	}
}

// jtiInFixture is the jti the revoke-jti sample carries.
func jtiInFixture(t *testing.T) string {
	var ev struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(fixture(t, "revoke-jti"), &ev); err != nil || ev.JTI == "" {
		t.Fatalf("events/revoke-jti.json: %v", err)
	}
	return ev.JTI
}
