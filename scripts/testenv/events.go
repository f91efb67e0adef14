package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Event reads events/<name>.json, the sample events `sam local invoke`
// uses, with placeholders replaced (old, new pairs as strings.NewReplacer).
func Event(t testing.TB, name string, replace ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(RepoRoot(t), "events", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.NewReplacer(replace...).Replace(string(b)))
}
