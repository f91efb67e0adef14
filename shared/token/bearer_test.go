package token_test

import (
	"strings"
	"testing"

	"github.com/authkit/lambda-auth/shared/token"
)

func TestBearer(t *testing.T) {
	if tok, ok := token.Bearer("Bearer abc.def.ghi"); !ok || tok != "abc.def.ghi" {
		t.Errorf("plain bearer: %q %v", tok, ok)
	}
	long := strings.Repeat("a", token.MaxTokenBytes)
	if tok, ok := token.Bearer("Bearer " + long); !ok || tok != long {
		t.Errorf("a token of MaxTokenBytes refused")
	}
	for _, h := range []string{"", "Bearer", "Bearer ", "bearer abc", "BEARER abc", "Bearer  abc", "abc.def.ghi",
		"Basic abc", "Bearer abc def", "Bearer abc,Bearer def", " Bearer abc", "Bearer abc\n", "Bearer abcdefgh\tij",
		"Bearer " + long + "a"} {
		if tok, ok := token.Bearer(h); ok {
			t.Errorf("%q accepted as %q", h, tok)
		}
	}
}

// FuzzBearer: Bearer returns a token only from exactly "Bearer <token>",
// the token non-empty, at most MaxTokenBytes, without spaces, controls of
// the header syntax or commas.
func FuzzBearer(f *testing.F) {
	for _, h := range []string{"Bearer abc.def.ghi", "bearer abc", "Bearer  abc", "Bearer abc,Bearer def", "Bearer", "Basic abc", " Bearer abc", "Bearer abc\r\n"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := token.Bearer(h)
		if !ok {
			if tok != "" {
				t.Fatalf("refused %q but returned %q", h, tok)
			}
			return
		}
		if h != "Bearer "+tok || tok == "" || len(tok) > token.MaxTokenBytes || strings.ContainsAny(tok, " \t\r\n,") {
			t.Fatalf("%q accepted as %q", h, tok)
		}
	})
}
