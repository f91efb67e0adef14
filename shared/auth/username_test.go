package auth_test

import (
	"strings"
	"testing"

	"github.com/authkit/lambda-auth/shared/auth"
)

func TestNormalizeUsername(t *testing.T) {
	for in, want := range map[string]string{
		"alice": "alice", "Alice": "alice", "ALICE@Example.COM": "alice@example.com",
		"ａｌｉｃｅ": "alice", "bob.smith-1_x+tag": "bob.smith-1_x+tag",
	} {
		if got, err := auth.NormalizeUsername(in); err != nil || got != want {
			t.Errorf("%q -> %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", " alice", "al ice", "аlice" /* Cyrillic а */, "alice\x00", ".alice", strings.Repeat("a", 65), "ali\u200bce"} {
		if got, err := auth.NormalizeUsername(in); err == nil {
			t.Errorf("%q accepted as %q", in, got)
		}
	}
}
