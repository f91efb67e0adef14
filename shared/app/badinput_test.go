package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/authkit/lambda-auth/scripts/testenv"
)

// TestRefreshAndLogoutBadRequests: bad input to the cookie routes gets the
// right 4xx and a JSON error, never a 500.
func TestRefreshAndLogoutBadRequests(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "walt", "a long enough password")
	s := newService(t, env)
	tok := s.doLogin(t, "walt", "a long enough password")

	cases := []struct {
		name    string
		cookies []string
		ctype   string
		body    string
		status  int
		code    string
	}{
		{"nothing", nil, "", "", 401, "invalid_refresh_token"},
		{"malformed JSON", nil, "application/json", `{"refresh_token":`, 400, "invalid_request"},
		{"wrong type", nil, "application/json", `{"refresh_token":42}`, 400, "invalid_request"},
		{"unknown field", nil, "application/json", `{"token":"x"}`, 400, "invalid_request"},
		{"text body", nil, "text/plain", `refresh_token=x`, 415, "unsupported_media_type"}, // forms: TestTokenEndpointForm
		{"JSON declared UTF-16", nil, "application/json; charset=utf-16", `{"refresh_token":"x"}`, 415, "unsupported_media_type"},
		{"oversized", nil, "application/json", `{"refresh_token":"` + strings.Repeat("a", 20000) + `"}`, 413, "payload_too_large"},
		{"garbage token", nil, "application/json", `{"refresh_token":"garbage"}`, 401, "invalid_refresh_token"},
		{"cookie and body", []string{"__Secure-refresh_token=" + tok.Refresh}, "application/json", `{"refresh_token":"` + tok.Refresh + `"}`, 400, "invalid_request"},
		{"tossed cookie", []string{"__Secure-refresh_token=" + tok.Refresh, "__Secure-refresh_token=other"}, "", "", 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httpEvent(t, "refresh")
			req.Cookies = tc.cookies
			req.Headers = map[string]string{}
			if tc.ctype != "" {
				req.Headers["content-type"] = tc.ctype
			}
			req.Body = tc.body
			resp := call(t, s.refresh, req)
			if resp.StatusCode != tc.status || errorCode(t, resp) != tc.code {
				t.Errorf("refresh: %d %s, want %d %s", resp.StatusCode, resp.Body, tc.status, tc.code)
			}
			resp = call(t, s.logout, req)
			want := tc.status
			if want == 401 { // logout of nothing or of an unknown token is done
				want = 204
			}
			if resp.StatusCode != want || (want != 204 && errorCode(t, resp) != tc.code) {
				t.Errorf("logout: %d %s, want %d", resp.StatusCode, resp.Body, want)
			}
		})
	}
	// The session survived all of it.
	if resp := s.refreshWith(t, tok.Refresh); resp.StatusCode != 200 {
		t.Fatalf("refresh after bad requests: %d %s", resp.StatusCode, resp.Body)
	}
}

// TestRevokeBadEvents: a console event that is not exactly one id is
// refused with a message, and nothing is written.
func TestRevokeBadEvents(t *testing.T) {
	env := testenv.New(t)
	s := newService(t, env)
	for _, ev := range []string{
		``, `[]`, `{}`, `{"jti":"a","user_id":"b"}`, `{"jti":""}`, `{"jti":"a b"}`, `{"user":"x"}`,
		`{"jti":"` + strings.Repeat("a", 300) + `"}`, `{"session_id":"x","reason":"` + strings.Repeat("r", 600) + `"}`,
	} {
		if res, err := s.revoke(context.Background(), []byte(ev)); err == nil {
			t.Errorf("event %.60q accepted: %+v", ev, res)
		}
	}
	revs, err := env.Store.Revocations(context.Background(), "a", "x", "b")
	if err != nil || len(revs) != 0 {
		t.Errorf("bad events wrote %+v (%v)", revs, err)
	}
}
