package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/localaws"
)

// serversErr is why Main could not start the local servers; the tests that
// need them fail with it (RequireServers), the others run.
var serversErr error

// Main runs the tests of a package that needs local KMS and DynamoDB; its
// TestMain is
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
//
// Given AWS_ENDPOINT_URL_KMS or AWS_ENDPOINT_URL_DYNAMODB (scripts/test
// starts one set of servers for every package and passes their
// endpoints), it only runs the tests. Given neither (a plain go test, say
// from a fresh clone), it starts local-kms and DynamoDB Local for this
// package's test binary first, as testcontainers-based suites start their
// containers: scripts/localaws on free ports with a temp folder, the tools
// from .local (scripts/install-tools installs them when missing), the SDK
// pointed at them (localaws.Vars, the caller's own AWS setup masked), and
// stops them when the tests end. When they cannot start, the tests still
// run: those that need the servers fail with the reason, the pure ones
// pass.
func Main(m *testing.M) int {
	if os.Getenv("AWS_ENDPOINT_URL_KMS") != "" || os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") != "" {
		return m.Run()
	}
	stop, err := startServers()
	if err != nil {
		serversErr = err
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
	}
	code := m.Run()
	if stop != nil {
		stop()
	}
	return code
}

// startServers starts this package's local-kms and DynamoDB Local and
// points the environment at them.
func startServers() (stop func(), err error) {
	root, err := localaws.RepoRoot()
	if err != nil {
		return nil, fmt.Errorf("start local KMS and DynamoDB: %w", err)
	}
	if missing := missingTools(root); missing != "" {
		if err := installTools(root, missing); err != nil {
			return nil, fmt.Errorf("%s is not installed, and scripts/install-tools failed (%v): run scripts/install-tools, or scripts/test", missing, err)
		}
	}
	begin := time.Now()
	s, err := localaws.Start(context.Background(), localaws.Config{Root: root})
	if err != nil {
		return nil, fmt.Errorf("start local KMS and DynamoDB (scripts/localaws): %w", err)
	}
	for _, k := range localaws.Masked {
		os.Unsetenv(k)
	}
	for _, kv := range localaws.Vars(s.KMSURL, s.DynamoDBURL) {
		os.Setenv(kv[0], kv[1])
	}
	// aws-lambda-rie and the other tools first, as scripts/test has them.
	os.Setenv("PATH", filepath.Join(root, ".local", "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	fmt.Fprintf(os.Stderr, "testenv: started local KMS at %s and DynamoDB Local at %s for this package in %s\n",
		s.KMSURL, s.DynamoDBURL, time.Since(begin).Round(100*time.Millisecond))
	return s.Stop, nil
}

// missingTools names the first tool localaws.Start needs that is not
// installed, or "".
func missingTools(root string) string {
	if _, err := localaws.ToolPath(root, "local-kms"); err != nil {
		return "local-kms"
	}
	if _, err := os.Stat(filepath.Join(root, ".local", "dynamodb-local", "DynamoDBLocal.jar")); err != nil {
		return "DynamoDB Local"
	}
	if _, err := exec.LookPath("java"); err != nil {
		return "java (for DynamoDB Local)"
	}
	return ""
}

// installTools runs scripts/install-tools, its output on stderr (it takes
// a lock: the package binaries go test runs side by side install once).
func installTools(root, missing string) error {
	fmt.Fprintf(os.Stderr, "testenv: %s is not installed: running scripts/install-tools\n", missing)
	cmd := exec.Command(filepath.Join(root, "scripts", "install-tools"))
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}
