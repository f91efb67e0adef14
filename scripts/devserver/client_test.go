package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authkit/lambda-auth/scripts/testenv"
)

// TestClientRules runs testdata/client-rules.mjs in Node against the
// browser client as shipped (shared/web/auth-client.js) with a fake fetch:
// a route that refuses the user does not rotate the session on every
// call, a revoked token signs out, the access token goes only to the API's
// origin and tokenOrigins (never to where "//host", "@host" or ".host"
// would lead), the refresh cookie only to the API, a refused logout-all is
// not reported as done, and a refresh's 401 signs out with the reason the
// API gives (session_ended), and where no DPoP key can be kept (no
// IndexedDB) the client goes on with bearer tokens, or with dpop
// "required" refuses to sign in. The browser tests (TestBrowser)
// check the rest in Chromium.
func TestClientRules(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed (scripts/test needs it for local DynamoDB too)")
	}
	root := testenv.RepoRoot(t)
	dir := t.TempDir()
	// As an ES module: Node reads .mjs as one whatever the package.json.
	for src, dst := range map[string]string{
		filepath.Join(root, "shared", "web", "auth-client.js"):                      "auth-client.mjs",
		filepath.Join(root, "scripts", "devserver", "testdata", "client-rules.mjs"): "client-rules.mjs",
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(node, filepath.Join(dir, "client-rules.mjs")).CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("client rules: %v", err)
	}
	if n := strings.Count("\n"+string(out), "\nok "); n < 21 {
		t.Errorf("%d checks passed; the script runs 21", n)
	}
}
