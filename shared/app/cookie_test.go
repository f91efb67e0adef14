package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
)

// TestRefreshCookieAttributes: every Set-Cookie the service sends, whether
// it sets the refresh token (login, rotation) or clears it (logout,
// logout-all, a refused refresh), is Secure, HttpOnly, SameSite=Strict,
// scoped to the configured path, host-only (no Domain), and named with
// its __Secure- or __Host- prefix. (CSRF: TestCookieCSRF.)
func TestRefreshCookieAttributes(t *testing.T) {
	for _, cfg := range []struct{ name, path string }{
		{"__Secure-refresh_token", "/auth"},
		{"__Host-refresh_token", "/"},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			env := testenv.New(t)
			env.Set("REFRESH_COOKIE_NAME", cfg.name)
			env.Set("REFRESH_COOKIE_PATH", cfg.path)
			env.CreateUser(t, "ursula", "a long enough password")
			s := newService(t, env)
			check := func(what string, setCookies []string, wantSet bool) {
				t.Helper()
				if len(setCookies) != 1 {
					t.Fatalf("%s: %d Set-Cookie headers, want 1: %v", what, len(setCookies), setCookies)
				}
				c, err := http.ParseSetCookie(setCookies[0])
				if err != nil {
					t.Fatalf("%s: %q: %v", what, setCookies[0], err)
				}
				if c.Name != cfg.name || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != cfg.path || c.Domain != "" {
					t.Errorf("%s: cookie %q, want %s with Secure, HttpOnly, SameSite=Strict, Path=%s and no Domain", what, setCookies[0], cfg.name, cfg.path)
				}
				switch {
				case wantSet && (c.Value == "" || c.MaxAge <= 0 || time.Duration(c.MaxAge)*time.Second > 7*24*time.Hour):
					t.Errorf("%s: cookie %q, want the refresh token for at most the session's lifetime", what, setCookies[0])
				case !wantSet && (c.Value != "" || c.MaxAge >= 0):
					t.Errorf("%s: cookie %q, want it cleared (empty, Max-Age=0)", what, setCookies[0])
				}
			}

			// Requests carrying the configured cookie from the allowed origin.
			refresh := func(v string) apigw.Response {
				req := s.refreshRequest(t, v)
				req.Cookies = []string{cfg.name + "=" + v}
				return call(t, s.refresh, req)
			}
			logout := func(v string) apigw.Response {
				req := httpEvent(t, "logout")
				req.Headers["origin"] = "https://app.test.example"
				req.Cookies = []string{cfg.name + "=" + v}
				return call(t, s.logout, req)
			}

			tok := s.doLogin(t, "ursula", "a long enough password")
			check("login", tok.Resp.Cookies, true)
			resp := refresh(tok.Refresh)
			check("refresh", resp.Cookies, true)
			rotated := s.readTokens(t, resp)
			s.clock.Advance(time.Minute)
			resp = refresh(tok.Refresh) // reuse: refused
			if resp.StatusCode != 401 {
				t.Fatalf("reuse: %d", resp.StatusCode)
			}
			check("refused refresh", resp.Cookies, false)
			check("logout", logout(rotated.Refresh).Cookies, false)

			again := s.doLogin(t, "ursula", "a long enough password")
			_, authCtx := s.authorize(t, again.Access)
			check("logout-all", call(t, s.logoutAll, protected(t, "logout-all", authCtx)).Cookies, false)
		})
	}
}
