package app_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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
		{"JSON declared UTF-16", "application/json; charset=utf-16", `{"username":"a","password":"b"}`, false, 415, "unsupported_media_type"},
		{"JSON declared Latin-1", "application/json;charset=ISO-8859-1", `{"username":"a","password":"b"}`, false, 415, "unsupported_media_type"},
		{"JSON declared UTF-8 in capitals", "application/json; charset=UTF-8", `{"username":"a","password":"b"}`, false, 401, "invalid_credentials"},
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

// TestLoginEndsThePreviousSession: a login that arrives with the refresh
// cookie of a live session (the same browser logging in again, or as
// someone else) ends that session and its access tokens before the new one
// starts (ASVS 5.0 7.2.4); a cookie that is no token of ours ends nothing.
func TestLoginEndsThePreviousSession(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "mona", "the right password")
	env.CreateUser(t, "ned", "another password")
	s := newService(t, env)
	old := s.doLogin(t, "mona", "the right password")
	other := s.doLogin(t, "mona", "the right password") // another device

	req := loginEvent(t, "ned", "another password")
	req.Cookies = []string{"__Secure-refresh_token=" + old.Refresh}
	resp := call(t, s.login, req)
	if resp.StatusCode != 200 {
		t.Fatalf("login with an old cookie: %d %s", resp.StatusCode, resp.Body)
	}
	fresh := s.readTokens(t, resp)
	if ok, _ := s.authorize(t, old.Access); ok {
		t.Error("the replaced session's access token is still allowed")
	}
	if r := s.refreshWith(t, old.Refresh); r.StatusCode != 401 {
		t.Errorf("the replaced session's refresh token: %d, want 401", r.StatusCode)
	}
	for name, tok := range map[string]tokens{"the new session": fresh, "another device": other} {
		if ok, _ := s.authorize(t, tok.Access); !ok {
			t.Errorf("%s was ended", name)
		}
	}

	// A wrong password ends nothing.
	req = loginEvent(t, "mona", "a wrong password")
	req.Cookies = []string{"__Secure-refresh_token=" + other.Refresh}
	if resp := call(t, s.login, req); resp.StatusCode != 401 {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	if ok, _ := s.authorize(t, other.Access); !ok {
		t.Error("a failed login ended the session of its cookie")
	}
	// A forged cookie naming a real session ends nothing either.
	req = loginEvent(t, "mona", "the right password")
	req.Cookies = []string{"__Secure-refresh_token=" + other.Refresh[:33] + strings.Repeat("A", 43)}
	if resp := call(t, s.login, req); resp.StatusCode != 200 {
		t.Fatalf("login with a forged cookie: %d %s", resp.StatusCode, resp.Body)
	}
	if ok, _ := s.authorize(t, other.Access); !ok {
		t.Error("a forged cookie ended a session")
	}
}

// TestLoginDuringKMSOutage: the right password while KMS cannot sign is a
// 503, not a failed login: however often it is retried, the account is not
// locked, and the login works once KMS is back.
func TestLoginDuringKMSOutage(t *testing.T) {
	env := testenv.New(t)
	env.Set("LOGIN_MAX_FAILURES", "2")
	env.CreateUser(t, "olga", "the right password")
	kmsProxy := testenv.NewFaultProxy(t, os.Getenv("AWS_ENDPOINT_URL_KMS"))
	t.Setenv("AWS_ENDPOINT_URL_KMS", kmsProxy.URL)
	s := newService(t, env)

	kmsProxy.Set(testenv.Fault{Mode: testenv.Error, Op: "Sign"})
	for i := range 4 {
		want503(t, "login "+strconv.Itoa(i+1)+" during the outage", callBefore(t, s.login, loginEvent(t, "olga", "the right password")))
	}
	kmsProxy.Reset()
	s.doLogin(t, "olga", "the right password")
}

// TestThrottleTableHoldsNoUsername: a password typed into the username
// field is counted under a keyed hash, so it is nowhere in the table.
func TestThrottleTableHoldsNoUsername(t *testing.T) {
	env := testenv.New(t)
	s := newService(t, env)
	const typed = "my-secret-passw0rd"
	call(t, s.login, loginEvent(t, typed, "whatever"))
	out, err := env.DB.Scan(t.Context(), &dynamodb.ScanInput{TableName: &env.Tables.LoginThrottle})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 1 {
		t.Fatalf("%d throttle records after one failed login, want 1", len(out.Items))
	}
	for _, it := range out.Items {
		for name, v := range it {
			if s, ok := v.(*types.AttributeValueMemberS); ok && strings.Contains(strings.ToLower(s.Value), typed) {
				t.Errorf("throttle record attribute %s holds the typed name", name)
			}
		}
	}
}
