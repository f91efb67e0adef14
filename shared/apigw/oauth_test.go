package apigw

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/authkit/lambda-auth/shared/auth"
)

// TestDescription: error_description holds only what RFC 6749 5.2 allows
// (%x20-21 / %x23-5B / %x5D-7E), whatever the message.
func TestDescription(t *testing.T) {
	for msg, want := range map[string]string{
		`send {"refresh_token": ...}`:   `send {'refresh_token': ...}`,
		`C:\path`:                       `C:/path`,
		"tab\there, newline\n, é, \x7f": "tab here, newline , ", // é is two bytes
		"plain text stays":              "plain text stays",
	} {
		got := Description(msg)
		if !strings.HasPrefix(got, want) {
			t.Errorf("Description(%q) = %q, want it to start with %q", msg, got, want)
		}
		for _, c := range []byte(got) {
			if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
				t.Errorf("Description(%q) = %q holds %q", msg, got, c)
			}
		}
	}
}

// FuzzDecodeForm: whatever the body and content type, a form is refused
// with a client error (400, 413, 415) or read into parameters that each
// appear once, in UTF-8.
func FuzzDecodeForm(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=abc", false)
	f.Add("application/x-www-form-urlencoded; charset=UTF-8", "token=a%20b&token_type_hint=access_token", true)
	f.Add("application/x-www-form-urlencoded; charset=latin1", "token=x", false)
	f.Add("application/x-www-form-urlencoded", "a=1&a=2", false)
	f.Add("application/x-www-form-urlencoded", "%zz", false)
	f.Add("application/x-www-form-urlencoded", "t=%ff", false)
	f.Add("application/json", `{"token":"x"}`, false)
	f.Fuzz(func(t *testing.T, ctype, body string, encode bool) {
		req := Request{Headers: map[string]string{"content-type": ctype}, Body: body}
		if encode {
			req.Body, req.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(body)), true
		}
		values, err := decodeForm(req)
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) || !slices.Contains([]int{400, 413, 415}, re.status) || values != nil {
				t.Fatalf("refused with %v", err)
			}
			return
		}
		for k, v := range values {
			if len(v) != 1 || !utf8.ValidString(k) || !utf8.ValidString(v[0]) {
				t.Fatalf("parameter %q = %q", k, v)
			}
		}
	})
}

// TestMetadataDocument: every URL is the issuer followed by a route, no
// member is an empty array (RFC 8414 3.2), and the defaults that would be
// wrong are overridden.
func TestMetadataDocument(t *testing.T) {
	m := NewMetadata("https://auth.example.com/tenant", []string{"RS256"})
	for _, u := range []string{m.JWKSURI, m.TokenEndpoint, m.RevocationEndpoint, m.IntrospectionEndpoint} {
		if !strings.HasPrefix(u, "https://auth.example.com/tenant/") || strings.Contains(u, "//tenant") {
			t.Errorf("endpoint %q is not the issuer followed by a route", u)
		}
	}
	b, err := m.Document()
	if err != nil || strings.Contains(string(b), "[]") || !strings.Contains(string(b), `"grant_types_supported":["refresh_token"]`) ||
		!strings.Contains(string(b), `"token_endpoint_auth_methods_supported":["none"]`) {
		t.Errorf("document %s %v", b, err)
	}
}

// TestBearerChallenge: where a function itself refuses an access token,
// the 401 carries the RFC 6750 3.1 challenge.
func TestBearerChallenge(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	r := Error(context.Background(), log, auth.ErrRevoked)
	if r.StatusCode != 401 || r.Headers["www-authenticate"] != `Bearer realm="lambda-auth", error="invalid_token"` {
		t.Errorf("revoked token: %d %v", r.StatusCode, r.Headers)
	}
	_, err := IdentityFrom(Request{})
	if r := Error(context.Background(), log, err); r.StatusCode != 401 || r.Headers["www-authenticate"] != `Bearer realm="lambda-auth"` {
		t.Errorf("no authorizer context: %d %v", r.StatusCode, r.Headers)
	}
}
