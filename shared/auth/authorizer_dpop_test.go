package auth_test

import (
	"strings"
	"testing"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/token"
)

// TestParseAuthorization: the schemes the resource side takes, and what
// it refuses as malformed (RFC 6750 2.1, RFC 9449 7.1, RFC 9110 11.1).
func TestParseAuthorization(t *testing.T) {
	const tok = "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"
	for _, tc := range []struct {
		header string
		scheme auth.Scheme
		token  string
		ok     bool
	}{
		{"Bearer " + tok, auth.Bearer, tok, true},
		{"DPoP " + tok, auth.DPoP, tok, true},
		{"dpop " + tok, auth.DPoP, tok, true}, // scheme names are case-insensitive
		{"DPOP " + tok, auth.DPoP, tok, true},
		{"DPoP  " + tok, auth.DPoP, "", false}, // a space too many
		{"DPoP " + tok + ",x", auth.DPoP, "", false},
		{"DPoP " + tok + " ", auth.DPoP, "", false},
		{"DPoP a+b/c=", auth.DPoP, "", false}, // not base64url
		{"DPoP " + strings.Repeat("a", token.MaxTokenBytes+1), auth.DPoP, "", false},
		{"DPoP ", auth.NoScheme, "", false},
		{"DPoP", auth.NoScheme, "", false},
		{"bearer " + tok, auth.NoScheme, "", false}, // as token.Bearer has always read it
		{"Basic dXNlcjpwYXNz", auth.NoScheme, "", false},
		{"", auth.NoScheme, "", false},
	} {
		scheme, got, ok := auth.ParseAuthorization(tc.header)
		if scheme != tc.scheme || ok != tc.ok || ok && got != tc.token {
			t.Errorf("%.20q: %v %q %v, want %v %q %v", tc.header, scheme, got, ok, tc.scheme, tc.token, tc.ok)
		}
	}
}
