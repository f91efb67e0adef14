package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// runnerOnly are the packages outside the standard library that the
// runner (scripts/dev, built before anything else on a first run) may
// compile although no function imports them: its own, the template's YAML
// reader and the DynamoDB Streams client that feeds the stream function.
// Everything else it links must be in a function's build too, so that on a
// first run the runner's build is also the functions' (same flags: see
// scripts/install-tools): a browser driver (chromedp), the Lambda SDK
// client or a benchmark's code here would be compiled for the runner alone
// before the API can start.
var runnerOnly = []string{
	"github.com/authkit/lambda-auth/scripts/devserver",
	"github.com/authkit/lambda-auth/scripts/localapi",
	"github.com/authkit/lambda-auth/scripts/localaws",
	"gopkg.in/yaml.v3",
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams",
}

// TestRunnerCompilesWhatFunctionsDo: the runner's import graph, outside
// the standard library, is the functions' plus runnerOnly.
func TestRunnerCompilesWhatFunctionsDo(t *testing.T) {
	deps := func(pattern string) []string {
		cmd := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pattern)
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pattern, err)
		}
		return strings.Fields(string(out))
	}
	runner, functions := deps("./scripts/devserver"), deps("./functions/...")
	if !slices.Contains(runner, "github.com/aws/aws-sdk-go-v2/service/dynamodb") ||
		!slices.Contains(functions, "github.com/authkit/lambda-auth/functions/login") {
		t.Fatalf("go list -deps lacks service/dynamodb or functions/login: the check reads the wrong output:\nrunner %v\nfunctions %v", runner, functions)
	}
	extra := 0
	for _, p := range runner {
		if slices.Contains(functions, p) {
			continue
		}
		if !slices.ContainsFunc(runnerOnly, func(prefix string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }) {
			t.Errorf("the runner compiles %s, which no function imports: move what needs it out of scripts/devserver's imports", p)
		}
		extra++
	}
	t.Logf("runner: %d packages outside the standard library, %d of them in no function's build", len(runner), extra)
}
