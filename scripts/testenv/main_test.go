package testenv_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/authkit/lambda-auth/scripts/testenv"
)

// TestMainStartsServers: a plain go test of a package that needs local
// KMS and DynamoDB, with no endpoint given, starts them for that package
// (testenv.Main) and its tests pass against them: what a newcomer's first
// go test does.
func TestMainStartsServers(t *testing.T) {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_ENDPOINT_URL") {
			env = append(env, kv)
		}
	}
	cmd := exec.Command("go", "test", "-count=1", "-v", "-run", "^TestFeedLayoutStore$", "./shared/dynamo/")
	cmd.Dir = testenv.RepoRoot(t)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test ./shared/dynamo/ without endpoints: %v\n%s", err, out)
	}
	for _, want := range []string{"testenv: started local KMS at http://127.0.0.1:", "--- PASS: TestFeedLayoutStore"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("go test ./shared/dynamo/ without endpoints: no %q in its output:\n%s", want, out)
		}
	}
}
