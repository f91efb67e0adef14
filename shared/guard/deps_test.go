package guard_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/authkit/lambda-auth"

// TestGuardDependencies: a net/http service that imports shared/guard gets
// the token checks and the revocation rule, not the API Gateway adapter,
// the Lambda runtime, the metrics or the AWS SDK. Of this module, guard
// reaches only auth and token (and what those two import); the DynamoDB
// replica comes from shared/dynamo (dynamo.FeedReplica), imported by the
// service that wants it.
func TestGuardDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps shared/guard: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, module+"/shared/token") || !slices.Contains(deps, module+"/shared/guard") {
		t.Fatalf("go list -deps lacks shared/token or shared/guard: the check reads the wrong output:\n%s", out)
	}
	for _, p := range deps {
		if why := unwanted(p); why != "" {
			t.Errorf("shared/guard depends on %s (%s)", p, why)
		}
	}
	t.Logf("go list -deps ./shared/guard: %d packages", len(deps))
}

// allowed are this module's packages guard may depend on: auth, token
// and theirs. Not shared/password: auth's Login takes its password check
// as a dependency (auth.Passwords), so no hashing code comes along.
var allowed = []string{"shared/guard", "shared/auth", "shared/token", "shared/jsonscan", "shared/dpop"}

// unwanted says why guard must not depend on package p; "" if it may.
func unwanted(p string) string {
	switch {
	case strings.HasPrefix(p, "github.com/aws/aws-lambda-go"):
		return "the Lambda runtime and event types: guard runs outside Lambda"
	case strings.HasPrefix(p, "github.com/aws/aws-sdk-go-v2"), strings.HasPrefix(p, "github.com/aws/smithy-go"):
		return "the AWS SDK: guard reads the JWKS over https and revocations through auth.RevocationLookup"
	case strings.HasPrefix(p, "golang.org/x/crypto/argon2"):
		return "password hashing: guard checks tokens, never passwords"
	case strings.HasPrefix(p, module+"/"):
		if !slices.Contains(allowed, strings.TrimPrefix(p, module+"/")) {
			return "guard depends on auth and token only"
		}
	}
	return ""
}

// TestGuardDependencyRule: the rule of TestGuardDependencies refuses what
// guard used to pull in and lets the standard library and auth through.
func TestGuardDependencyRule(t *testing.T) {
	for p, refused := range map[string]bool{
		"github.com/aws/aws-lambda-go/events":      true,
		"github.com/aws/aws-lambda-go/lambda":      true,
		"github.com/aws/aws-sdk-go-v2/service/kms": true,
		"github.com/aws/smithy-go/middleware":      true,
		module + "/shared/apigw":                   true,
		module + "/shared/metrics":                 true,
		module + "/shared/kmssign":                 true,
		module + "/shared/dynamo":                  true,
		module + "/scripts/testenv":                true,
		module + "/shared/password":                true,
		"golang.org/x/crypto/argon2":               true,
		module + "/shared/auth":                    false,
		module + "/shared/token":                   false,
		"net/http":                                 false,
		"github.com/golang-jwt/jwt/v5":             false,
	} {
		if got := unwanted(p) != ""; got != refused {
			t.Errorf("unwanted(%s) refuses: %v, want %v", p, got, refused)
		}
	}
}
