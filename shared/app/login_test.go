package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/app"
)

// TestLoginBadRequests: bad input gets the right 4xx and a JSON error, never
// a 500, and never costs a password hash.
func TestLoginBadRequests(t *testing.T) {
	env := testenv.New(t)
	s := newService(t, env)
	cases := []struct {
		name   string
		ctype  string
		body   string
		b64    bool
		status int
		code   string
	}{
		{"malformed JSON", "application/json", `{"username":`, false, 400, "invalid_request"},
		{"not an object", "application/json", `["a","b"]`, false, 400, "invalid_request"},
		{"wrong types", "application/json", `{"username":1,"password":2}`, false, 400, "invalid_request"},
		{"unknown field", "application/json", `{"username":"a","password":"b","admin":true}`, false, 400, "invalid_request"},
		{"trailing data", "application/json", `{"username":"a","password":"b"}{}`, false, 400, "invalid_request"},
		{"missing password", "application/json", `{"username":"a"}`, false, 400, "invalid_request"},
		{"empty body", "application/json", ``, false, 400, "invalid_request"},
		{"form body", "application/x-www-form-urlencoded", `username=a&password=b`, false, 415, "unsupported_media_type"},
		{"no content type", "", `{"username":"a","password":"b"}`, false, 415, "unsupported_media_type"},
		{"oversized body", "application/json", `{"username":"a","password":"` + strings.Repeat("x", 10<<20) + `"}`, false, 413, "payload_too_large"},
		{"long password", "application/json", `{"username":"a","password":"` + strings.Repeat("x", 2000) + `"}`, false, 400, "invalid_request"},
		{"bad base64", "application/json", `%%%`, true, 400, "invalid_request"},
		{"base64 JSON, wrong password", "application/json; charset=utf-8", "eyJ1c2VybmFtZSI6ImEiLCJwYXNzd29yZCI6ImIifQ==", true, 401, "invalid_credentials"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := loginEvent(t, "x", "y")
			req.Headers = map[string]string{}
			if tc.ctype != "" {
				req.Headers["content-type"] = tc.ctype
			}
			req.Body, req.IsBase64Encoded = tc.body, tc.b64
			resp := call(t, s.login, req)
			if resp.StatusCode != tc.status || errorCode(t, resp) != tc.code {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, resp.Body, tc.status, tc.code)
			}
		})
	}
}

// TestUsernameNormalization: case and width variants reach the same account;
// a look-alike from another script is not a username.
func TestUsernameNormalization(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "mallory", "the right password")
	s := newService(t, env)
	for _, variant := range []string{"MALLORY", "Mallory", "ｍａｌｌｏｒｙ"} {
		s.doLogin(t, variant, "the right password")
	}
	resp := call(t, s.login, loginEvent(t, "mаllory", "the right password")) // Cyrillic а
	if resp.StatusCode != 401 {
		t.Errorf("look-alike username: %d %s", resp.StatusCode, resp.Body)
	}
}

// TestInitFailsLoudly: a function with a missing setting does not start.
func TestInitFailsLoudly(t *testing.T) {
	env := testenv.New(t)
	env.Set("SESSIONS_TABLE", "")
	if _, err := app.Login(context.Background(), env.Getenv); err == nil || !strings.Contains(err.Error(), "SESSIONS_TABLE") {
		t.Errorf("login without SESSIONS_TABLE: %v", err)
	}
	env.Set("ACCESS_TOKEN_TTL", "forever")
	if _, err := app.Authorizer(context.Background(), env.Getenv); err == nil || !strings.Contains(err.Error(), "ACCESS_TOKEN_TTL") {
		t.Errorf("authorizer with a bad ACCESS_TOKEN_TTL: %v", err)
	}
}
