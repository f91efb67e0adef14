package functions_test

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/authkit/lambda-auth/scripts/testenv"
)

const module = "github.com/authkit/lambda-auth"

// TestFunctionsShipNoTooling: what a function's zip holds is its
// dependency graph, and no package of it is tooling: nothing under
// scripts/ (the local API, test support, commands), no testing, no
// httptest. Checked for the host and as SAM builds (linux/arm64, CGO off,
// -tags lambda.norpc), whose graphs can differ by build constraints.
func TestFunctionsShipNoTooling(t *testing.T) {
	builds := []struct {
		name string
		env  []string
		args []string
	}{
		{"host", nil, nil},
		{"lambda", []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"}, []string{"-tags", "lambda.norpc"}},
	}
	for _, b := range builds {
		t.Run(b.name, func(t *testing.T) {
			deps := listDeps(t, b.env, b.args...)
			if !slices.Contains(deps, module+"/shared/app") {
				t.Fatalf("go list -deps ./functions/... lacks %s/shared/app: the check reads the wrong output:\n%s", module, strings.Join(deps, "\n"))
			}
			for _, p := range deps {
				if why := tooling(p); why != "" {
					t.Errorf("functions depend on %s (%s): it would ship in every zip", p, why)
				}
			}
		})
	}
}

// TestToolingRule: the rule of TestFunctionsShipNoTooling tells tooling
// from runtime packages.
func TestToolingRule(t *testing.T) {
	for p, want := range map[string]bool{
		module + "/scripts/localapi":          true,
		module + "/scripts/testenv":           true,
		module + "/scripts/devserver":         true,
		"testing":                             true,
		"testing/iotest":                      true,
		"net/http/httptest":                   true,
		"example.com/other/testenv":           true,
		module + "/shared/app":                false,
		module + "/shared/apigw":              false,
		"net/http":                            false,
		"github.com/aws/aws-lambda-go/events": false,
		"github.com/example/testingtools":     false,
	} {
		if got := tooling(p) != ""; got != want {
			t.Errorf("tooling(%q) = %v, want %v", p, got, want)
		}
	}
}

// tooling says why package p must not be in a function's graph, or "".
func tooling(p string) string {
	switch {
	case strings.HasPrefix(p, module+"/scripts/"):
		return "under scripts/: runs on a laptop or in CI"
	case p == "testing" || strings.HasPrefix(p, "testing/"):
		return "the testing package"
	case p == "net/http/httptest":
		return "test support"
	case p == "testenv" || strings.HasSuffix(p, "/testenv"):
		return "test support"
	}
	return ""
}

func listDeps(t *testing.T, env []string, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append(append([]string{"list", "-deps"}, args...), "./functions/...")...)
	cmd.Dir = testenv.RepoRoot(t)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list -deps ./functions/...: %v\n%s", err, stderr)
	}
	return strings.Fields(string(out))
}
