package apigw

import (
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/token"
)

func TestRefreshCookie(t *testing.T) {
	ck := CookieConfig{Name: "__Secure-refresh_token", Path: "/auth", AllowedOrigins: []string{"https://app.example.com"}}
	for name, tc := range map[string]struct {
		cookies []string
		header  string
		want    string
		bad     bool
	}{
		"array":            {cookies: []string{"a=b", "__Secure-refresh_token=tok"}, want: "tok"},
		"header":           {header: "a=b; __Secure-refresh_token=tok", want: "tok"},
		"absent":           {cookies: []string{"a=b"}, want: ""},
		"same twice":       {cookies: []string{"__Secure-refresh_token=tok", "__Secure-refresh_token=tok"}, want: "tok"},
		"tossed":           {cookies: []string{"__Secure-refresh_token=tok", "__Secure-refresh_token=evil"}, bad: true},
		"prefix lookalike": {cookies: []string{"refresh_token=tok"}, want: ""},
	} {
		req := Request{Cookies: tc.cookies, Headers: map[string]string{}}
		if tc.header != "" {
			req.Headers["cookie"] = tc.header
		}
		got, err := ck.refreshCookie(req)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("%s: %q %v", name, got, err)
		}
	}
	set := ck.setCookie("v", nowPlus(3600), nowPlus(0))
	for _, attr := range []string{"__Secure-refresh_token=v", "Path=/auth", "Max-Age=3600", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(set, attr) {
			t.Errorf("Set-Cookie %q lacks %s", set, attr)
		}
	}
	if clear := ck.clearCookie(); !strings.Contains(clear, "Max-Age=0") || !strings.Contains(clear, "Path=/auth") {
		t.Errorf("clear cookie %q", clear)
	}
}

func TestCheckOrigin(t *testing.T) {
	ck := CookieConfig{AllowedOrigins: []string{"https://app.example.com"}}
	for h, ok := range map[[2]string]bool{
		{"", ""}:                                  true, // not a browser
		{"https://app.example.com", ""}:           true,
		{"https://APP.example.com", "same-site"}:  true,
		{"https://app.example.com", "cross-site"}: false,
		{"https://evil.example", ""}:              false,
		{"null", ""}:                              false,
		{"", "cross-site"}:                        false,
		{"https://app.example.com:444", ""}:       false,
	} {
		req := Request{Headers: map[string]string{"origin": h[0], "sec-fetch-site": h[1]}}
		if err := ck.checkOrigin(req); (err == nil) != ok {
			t.Errorf("origin %q sec-fetch-site %q: %v", h[0], h[1], err)
		}
	}
}

func nowPlus(sec int) time.Time { return time.Unix(1_800_000_000+int64(sec), 0) }

// TestHeaderGivenTwice: a header in two spellings, none lower case, is
// refused by every check that reads it, rather than read in map order.
func TestHeaderGivenTwice(t *testing.T) {
	twice := map[string]string{"Origin": "https://app.example.com", "ORIGIN": "https://evil.example"}
	if got := header(twice, "origin"); got != ambiguousHeader {
		t.Errorf("header = %q, want the ambiguous marker", got)
	}
	if got := header(map[string]string{"Origin": "https://a", "origin": "https://b"}, "origin"); got != "https://b" {
		t.Errorf("the lower-case spelling is the one API Gateway gives: got %q", got)
	}
	ck := CookieConfig{AllowedOrigins: []string{"https://app.example.com"}}
	if err := ck.checkOrigin(Request{Headers: twice}); err == nil {
		t.Error("an Origin given twice passed the CSRF check")
	}
	if _, ok := token.Bearer(header(map[string]string{"Authorization": "Bearer a.b.c", "AUTHORIZATION": "Bearer a.b.c"}, "authorization")); ok {
		t.Error("an Authorization header given twice gave a bearer token")
	}
}
