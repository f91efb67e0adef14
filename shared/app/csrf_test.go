package app_test

import (
	"testing"

	"github.com/authkit/lambda-auth/scripts/testenv"
)

// TestCookieCSRF: the refresh cookie is refused with an Origin that is not
// allowed or with Sec-Fetch-Site cross-site; refresh and logout alike.
func TestCookieCSRF(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "nina", "a long enough password")
	s := newService(t, env)
	tok := s.doLogin(t, "nina", "a long enough password")

	for name, headers := range map[string]map[string]string{
		"evil origin":      {"origin": "https://evil.example"},
		"lookalike origin": {"origin": "https://app.test.example.evil.example"},
		"http origin":      {"origin": "http://app.test.example"},
		"null origin":      {"origin": "null"},
		"cross-site fetch": {"origin": "https://app.test.example", "sec-fetch-site": "cross-site"},
	} {
		for fn, h := range map[string]func() int{
			"refresh": func() int {
				req := httpEvent(t, "refresh", "REPLACE_WITH_REFRESH_TOKEN", tok.Refresh)
				req.Headers = headers
				return call(t, s.refresh, req).StatusCode
			},
			"logout": func() int {
				req := httpEvent(t, "logout", "REPLACE_WITH_REFRESH_TOKEN", tok.Refresh)
				req.Headers = headers
				return call(t, s.logout, req).StatusCode
			},
		} {
			if got := h(); got != 403 {
				t.Errorf("%s with %s: %d, want 403", fn, name, got)
			}
		}
	}
	// A logout without the cookie (a cross-site page: the browser keeps a
	// SameSite=Strict cookie back) must not clear it either: its answer
	// would (a top-level form POST may set cookies).
	for _, h := range []map[string]string{{"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}} {
		req := httpEvent(t, "logout")
		req.Cookies, req.Headers = nil, h
		if resp := call(t, s.logout, req); resp.StatusCode != 403 || len(resp.Cookies) != 0 {
			t.Errorf("logout without a cookie, %v: %d %v, want 403 and no Set-Cookie", h, resp.StatusCode, resp.Cookies)
		}
	}
	// The session is untouched by the refused attempts.
	if resp := s.refreshWith(t, tok.Refresh); resp.StatusCode != 200 {
		t.Fatalf("allowed origin: %d %s", resp.StatusCode, resp.Body)
	}
}
