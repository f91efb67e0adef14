// Package functions_test runs each function's real bootstrap, built as SAM
// builds it (CGO off, -tags lambda.norpc), under aws-lambda-rie, the
// emulator `sam local` uses, so that the wiring in every main.go is tested
// as it deploys.
package functions_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/testenv"
)

// lambdaProc is one bootstrap running under aws-lambda-rie.
type lambdaProc struct {
	*localapi.Lambda
	logs *testenv.LogBuffer
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

// start runs one function under the emulator with the environment the
// template gives it, its references resolved to this test's key and tables.
func start(t *testing.T, bin string, tpl *localapi.Template, name string, env *testenv.Env) *lambdaProc {
	t.Helper()
	rie, err := exec.LookPath("aws-lambda-rie")
	if err != nil {
		t.Fatal("aws-lambda-rie not on PATH: run the tests with scripts/test, which installs it")
	}
	var f *localapi.Function
	for _, fn := range tpl.Functions {
		if fn.Folder == name {
			f = fn
		}
	}
	if f == nil {
		t.Fatalf("functions/%s is not in template.yaml", name)
	}
	params := localapi.LocalParams(tpl, env.Getenv("ISSUER"),
		map[string]string{"Audience": env.Getenv("AUDIENCE"), "AllowedOrigins": env.Getenv("ALLOWED_ORIGINS")})
	resources := map[string]string{
		"SigningKey.Arn": env.KeyID, "TokenMacKey.Arn": env.MACKeyID, "UsersTable": env.Tables.Users, "LoginThrottleTable": env.Tables.LoginThrottle,
		"SessionsTable": env.Tables.Sessions, "RevocationsTable": env.Tables.Revocations,
		"RevocationFeedTable": env.Tables.RevocationFeed, "RevocationSnapshotTable": env.Tables.RevocationSnapshot,
		"ProofReplayTable": env.ProofReplayTable,
		"PasskeysTable":    env.Tables.Passkeys, "PasskeyChallengesTable": env.Tables.PasskeyChallenges,
		"MfaTable": env.Tables.MFA, "TotpKey.Arn": env.TOTPKeyID,
	}
	vars, err := localapi.FunctionEnv(tpl, f, params, resources,
		localapi.EndpointVariables(os.Getenv("AWS_ENDPOINT_URL_KMS"), os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")))
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.LogBuffer{}
	l, err := localapi.StartLambda(context.Background(), localapi.LambdaConfig{
		RIE: rie, Bootstrap: filepath.Join(bin, name, "bootstrap"), Function: f, Env: vars, Output: logs,
	})
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, logs)
	}
	t.Cleanup(l.Stop)
	return &lambdaProc{Lambda: l, logs: logs}
}

func (p *lambdaProc) invoke(t *testing.T, event []byte) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := p.Invoke(ctx, event)
	var fe *localapi.FunctionError
	if errors.As(err, &fe) {
		return map[string]any{"errorMessage": fe.Message, "errorType": fe.Type}
	}
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, p.logs)
	}
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

// TestBootstraps runs every function as a bootstrap binary under the
// Lambda runtime emulator: login, the authorizer, me, jwks, discovery,
// introspection, RFC 7009 revocation, the session list, ending a device and
// the console's revoke answer their sample events.
func TestBootstraps(t *testing.T) {
	env := testenv.New(t)
	env.Set("ALLOWED_ORIGINS", "https://app.example.com")
	env.CreateUser(t, "alice@example.com", "correct horse battery staple")
	bin := build(t)
	tpl, err := localapi.Load(testenv.RepoRoot(t))
	if err != nil {
		t.Fatal(err)
	}

	procs := map[string]*lambdaProc{}
	for _, name := range []string{"login", "authorizer", "me", "jwks", "revoke", "refresh", "logout", "logout-all",
		"discovery", "token-revocation", "token-introspection", "sessions", "end-session",
		"passkeys", "passkey-login", "totp"} {
		procs[name] = start(t, bin, tpl, name, env)
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
	disc := procs["discovery"].invoke(t, fixture(t, "discovery"))
	if disc["statusCode"] != 200.0 || !strings.Contains(fmt.Sprint(disc["body"]), `"issuer":"`+env.Getenv("ISSUER")+`"`) {
		t.Errorf("discovery: %v", disc)
	}
	in := procs["token-introspection"].invoke(t, fixture(t, "token-introspection", "REPLACE_WITH_ACCESS_TOKEN", body.AccessToken))
	if in["statusCode"] != 200.0 || !strings.Contains(fmt.Sprint(in["body"]), `"active":true`) {
		t.Errorf("token-introspection: %v\n%s", in, procs["token-introspection"].logs)
	}
	// The fixtures' caller (the demo user id) has no session in this
	// test's tables: an empty list, and 404 for a session that is not theirs.
	list := procs["sessions"].invoke(t, fixture(t, "sessions"))
	if list["statusCode"] != 200.0 || !strings.Contains(fmt.Sprint(list["body"]), `"sessions":[]`) {
		t.Errorf("sessions: %v\n%s", list, procs["sessions"].logs)
	}
	end := procs["end-session"].invoke(t, fixture(t, "end-session", "REPLACE_WITH_SESSION_ID", "AAABmshq-IjhYozUwxVfazvW8lwlLuGt"))
	if end["statusCode"] != 404.0 || !strings.Contains(fmt.Sprint(end["body"]), "session_not_found") {
		t.Errorf("end-session: %v\n%s", end, procs["end-session"].logs)
	}
	// The passkey functions: the fixtures' caller has no passkey; anyone
	// gets sign-in options (a challenge, user verification required).
	pks := procs["passkeys"].invoke(t, fixture(t, "passkeys-list"))
	if pks["statusCode"] != 200.0 || !strings.Contains(fmt.Sprint(pks["body"]), `"passkeys":[]`) {
		t.Errorf("passkeys: %v\n%s", pks, procs["passkeys"].logs)
	}
	pko := procs["passkey-login"].invoke(t, fixture(t, "passkey-login-options"))
	if pko["statusCode"] != 200.0 || !strings.Contains(fmt.Sprint(pko["body"]), `"userVerification":"required"`) {
		t.Errorf("passkey-login options: %v\n%s", pko, procs["passkey-login"].logs)
	}
	// The fixtures' caller has no second factor.
	if st := procs["totp"].invoke(t, fixture(t, "totp")); st["statusCode"] != 200.0 || !strings.Contains(fmt.Sprint(st["body"]), `"active":false`) {
		t.Errorf("totp: %v\n%s", st, procs["totp"].logs)
	}
	refresh := strings.SplitN(strings.TrimPrefix(fmt.Sprint(cookies[0]), "__Secure-refresh_token="), ";", 2)[0]
	out = procs["token-revocation"].invoke(t, fixture(t, "token-revocation", "REPLACE_WITH_REFRESH_TOKEN", refresh))
	if out["statusCode"] != 200.0 {
		t.Errorf("token-revocation: %v\n%s", out, procs["token-revocation"].logs)
	}
	rev := procs["revoke"].invoke(t, fixture(t, "revoke-user"))
	if rev["revoked"] != "user" {
		t.Errorf("revoke: %v\n%s", rev, procs["revoke"].logs)
	}
	// The function's output reaches the emulator's apart from its answer:
	// give the line a moment to arrive.
	audit := func() bool {
		l := procs["revoke"].logs.String()
		return strings.Contains(l, `"msg":"audit: revoked"`) || strings.Contains(l, `"message":"audit: revoked"`)
	}
	for deadline := time.Now().Add(5 * time.Second); !audit() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if !audit() {
		t.Errorf("revoke wrote no JSON audit line:\n%s", procs["revoke"].logs)
	}

	// Metric lines come out on the bootstrap's standard output, among its
	// log lines, each a valid EMF line at the function's log level (so
	// Lambda's log-level filter keeps it).
	wantMetric := map[string]string{"login": "Login{Outcome=ok}", "revoke": "Revocation{Kind=user}"}
	for name, want := range wantMetric {
		var emf testenv.EMFLog
		for _, line := range strings.Split(procs[name].logs.String(), "\n") {
			if strings.Contains(line, `"_aws"`) {
				emf.Write([]byte(line + "\n"))
				if !strings.Contains(line, `"level":"INFO"`) {
					t.Errorf("%s: a metric line without the function's level INFO: %s", name, line)
				}
			}
		}
		if errs := emf.Errors(); len(errs) > 0 {
			t.Errorf("%s: metric lines against the EMF rules: %q", name, errs)
		}
		if seen := emf.Seen(); !slices.Contains(seen, want) {
			t.Errorf("%s: metric lines %q, want %s", name, seen, want)
		}
	}

	for name, p := range procs {
		logs := p.logs.String()
		if strings.Contains(logs, body.AccessToken) || strings.Contains(logs, refresh) || strings.Contains(logs, "correct horse battery staple") {
			t.Errorf("%s logged a secret", name)
		}
		if strings.Contains(logs, "init failed") {
			t.Errorf("%s failed to start:\n%s", name, logs)
		}
	}
}
