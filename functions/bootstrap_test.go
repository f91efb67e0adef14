// Package functions_test runs each function's real bootstrap, built as SAM
// builds it (CGO off, -tags lambda.norpc), under aws-lambda-rie, the
// emulator `sam local` uses, so that the wiring in every main.go is tested
// as it deploys.
package functions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/testenv"
)

// lambdaProc is one bootstrap running under aws-lambda-rie.
type lambdaProc struct {
	url  string
	logs *testenv.LogBuffer
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// build compiles every function, as SAM's Makefile does but for the host,
// in one go build, then lays each out as <name>/bootstrap.
func build(t *testing.T) string {
	t.Helper()
	root := testenv.RepoRoot(t)
	out := t.TempDir()
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w",
		"-o", out+string(filepath.Separator), "./functions/...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	mains, _ := filepath.Glob(filepath.Join(root, "functions", "*", "main.go"))
	for _, m := range mains {
		name := filepath.Base(filepath.Dir(m))
		if err := os.MkdirAll(filepath.Join(out, name+".d"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(out, name), filepath.Join(out, name+".d", "bootstrap")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(out, name+".d"), filepath.Join(out, name)); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func start(t *testing.T, bin, name string, env *testenv.Env) *lambdaProc {
	t.Helper()
	rie, err := exec.LookPath("aws-lambda-rie")
	if err != nil {
		t.Fatal("aws-lambda-rie not on PATH: run the tests with scripts/test, which installs it")
	}
	addr := freeAddr(t)
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr,
		"--runtime-api-address", freeAddr(t), "./bootstrap")
	cmd.Dir = filepath.Join(bin, name)
	vars := []string{"AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_LAMBDA_FUNCTION_TIMEOUT=10"}
	for _, k := range []string{"ISSUER", "AUDIENCE", "SIGNING_KEY_ID", "USERS_TABLE", "LOGIN_THROTTLE_TABLE",
		"SESSIONS_TABLE", "REVOCATIONS_TABLE", "ALLOWED_ORIGINS"} {
		vars = append(vars, k+"="+env.Getenv(k))
	}
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_CA_BUNDLE=") { // not part of a Lambda's environment
			base = append(base, kv)
		}
	}
	cmd.Env = append(base, vars...)
	logs := &testenv.LogBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	p := &lambdaProc{url: "http://" + addr + "/2015-03-31/functions/function/invocations", logs: logs}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: emulator did not listen; output:\n%s", name, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *lambdaProc) invoke(t *testing.T, event []byte) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", p.url, bytes.NewReader(event))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, p.logs)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("invoke: %s: %v\nlogs:\n%s", b, err, p.logs)
	}
	return out
}

func fixture(t *testing.T, name string, replace ...string) []byte {
	t.Helper()
	return testenv.Event(t, name, replace...)
}

// TestBootstraps runs login, the authorizer, me, jwks and revoke as
// bootstrap binaries under the Lambda runtime emulator.
func TestBootstraps(t *testing.T) {
	env := testenv.New(t)
	env.Set("ALLOWED_ORIGINS", "https://app.example.com")
	env.CreateUser(t, "alice@example.com", "correct horse battery staple")
	bin := build(t)

	procs := map[string]*lambdaProc{}
	for _, name := range []string{"login", "authorizer", "me", "jwks", "revoke", "refresh", "logout", "logout-all"} {
		procs[name] = start(t, bin, name, env)
	}

	out := procs["login"].invoke(t, fixture(t, "login"))
	if out["statusCode"] != 200.0 {
		t.Fatalf("login: %v\n%s", out, procs["login"].logs)
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal([]byte(out["body"].(string)), &body)
	cookies, _ := out["cookies"].([]any)
	if body.AccessToken == "" || len(cookies) != 1 {
		t.Fatalf("login response %v", out)
	}

	authz := procs["authorizer"].invoke(t, fixture(t, "authorizer", "REPLACE_WITH_ACCESS_TOKEN", body.AccessToken))
	if authz["isAuthorized"] != true {
		t.Fatalf("authorizer: %v\n%s", authz, procs["authorizer"].logs)
	}
	// REST TOKEN with a bad token: the error "Unauthorized" (401 at API Gateway).
	rest := procs["authorizer"].invoke(t, fixture(t, "authorizer-rest-token"))
	if rest["errorMessage"] != "Unauthorized" {
		t.Errorf("REST authorizer on a bad token: %v", rest)
	}

	me := procs["me"].invoke(t, fixture(t, "me"))
	if me["statusCode"] != 200.0 {
		t.Errorf("me: %v", me)
	}
	jwks := procs["jwks"].invoke(t, fixture(t, "jwks"))
	if jwks["statusCode"] != 200.0 || !strings.Contains(fmt.Sprint(jwks["body"]), `"kty":"EC"`) {
		t.Errorf("jwks: %v", jwks)
	}
	rev := procs["revoke"].invoke(t, fixture(t, "revoke-user"))
	if rev["revoked"] != "user" {
		t.Errorf("revoke: %v\n%s", rev, procs["revoke"].logs)
	}
	if !strings.Contains(procs["revoke"].logs.String(), `"msg":"audit: revoked"`) && !strings.Contains(procs["revoke"].logs.String(), `"message":"audit: revoked"`) {
		t.Errorf("revoke wrote no JSON audit line:\n%s", procs["revoke"].logs)
	}

	for name, p := range procs {
		logs := p.logs.String()
		if strings.Contains(logs, body.AccessToken) || strings.Contains(logs, "correct horse battery staple") {
			t.Errorf("%s logged a secret", name)
		}
		if strings.Contains(logs, "init failed") {
			t.Errorf("%s failed to start:\n%s", name, logs)
		}
	}
}
