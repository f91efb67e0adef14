package apigw

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// CookieConfig is how the refresh token travels to browsers.
type CookieConfig struct {
	Name           string   // __Secure-refresh_token by default
	Path           string   // /auth: sent only to the auth routes
	AllowedOrigins []string // browser origins allowed to use the cookie
}

// setCookie is the refresh cookie: HttpOnly (no script can read it), Secure,
// SameSite=Strict (never sent on cross-site requests), scoped to the auth
// routes, expiring with the session.
func (c CookieConfig) setCookie(value string, expires time.Time, now time.Time) string {
	ck := http.Cookie{
		Name: c.Name, Value: value, Path: c.Path,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode,
		MaxAge: int(expires.Sub(now).Seconds()),
	}
	if ck.MaxAge <= 0 {
		ck.MaxAge = -1
	}
	return ck.String()
}

// clearCookie expires the refresh cookie in the browser.
func (c CookieConfig) clearCookie() string {
	ck := http.Cookie{Name: c.Name, Value: "", Path: c.Path, HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1}
	return ck.String()
}

// refreshCookie returns the refresh cookie's value from a payload 2.0
// request (the cookies array, or a Cookie header). Two different values for
// the name (cookie tossing from a sibling domain) are refused.
func (c CookieConfig) refreshCookie(req Request) (string, error) {
	lines := req.Cookies
	if len(lines) == 0 {
		if h := header(req.Headers, "cookie"); h != "" {
			lines = strings.Split(h, ";")
		}
	}
	var found string
	for _, line := range lines {
		for _, part := range strings.Split(line, ";") {
			name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || name != c.Name {
				continue
			}
			if found != "" && found != value {
				return "", badRequest("more than one refresh cookie")
			}
			found = value
		}
	}
	return found, nil
}

// checkOrigin refuses cross-site use of the cookie (CSRF). SameSite=Strict
// already keeps browsers from sending it cross-site; on top of that a
// browser request must come from an allowed origin: browsers send Origin on
// every POST, and Sec-Fetch-Site when they support it. Requests without
// either (curl, mobile apps) are not browsers and are not at risk of CSRF.
func (c CookieConfig) checkOrigin(req Request) error {
	if site := header(req.Headers, "sec-fetch-site"); site == "cross-site" {
		return &requestError{403, "forbidden_origin", "cross-site requests may not use the refresh cookie"}
	}
	origin := header(req.Headers, "origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || !slices.Contains(c.AllowedOrigins, strings.ToLower(u.Scheme+"://"+u.Host)) {
		return &requestError{403, "forbidden_origin", "this origin may not use the refresh cookie"}
	}
	return nil
}
