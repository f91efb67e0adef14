package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
	"github.com/authkit/lambda-auth/shared/app"
	"github.com/authkit/lambda-auth/shared/app/passkeyapp"
)

// Benchmarks of login and refresh, wired as their functions wire them,
// against local KMS and DynamoDB, next to the round trips they are made of
// measured in the same run: one KMS Sign, one DynamoDB GetItem, and the
// authorizer's revocation lookup (one consistent BatchGetItem of three
// keys). Each reports the AWS calls it makes per operation, counted by the
// SDK middleware (every attempt on the wire).
//
//	scripts/local-servers -- go test -run '^$' -bench . ./shared/app/

const benchPassword = "a long enough password"

// benchWire builds one function with the call counter installed.
func benchWire[H any](b *testing.B, env *testenv.Env, calls *testenv.Counter,
	wire func(context.Context, func(string) string, ...app.Option) (H, error)) H {
	b.Helper()
	h, err := wire(context.Background(), env.Getenv, app.WithAWSOptions(calls.Option()),
		app.WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))))
	if err != nil {
		b.Fatal(err)
	}
	return h
}

func benchEvent(b *testing.B, name string, replace ...string) apigw.Request {
	b.Helper()
	var req apigw.Request
	if err := json.Unmarshal(testenv.Event(b, name, replace...), &req); err != nil {
		b.Fatal(err)
	}
	req.Headers["origin"] = "https://app.test.example"
	return req
}

func benchLogin(b *testing.B, h apigw.Handler) apigw.Response {
	b.Helper()
	req := benchEvent(b, "login")
	body, _ := json.Marshal(map[string]string{"username": "bench", "password": benchPassword})
	req.Body = string(body)
	resp, err := h(context.Background(), req)
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("login: %d %s %v", resp.StatusCode, resp.Body, err)
	}
	return resp
}

func refreshCookie(b *testing.B, resp apigw.Response) string {
	b.Helper()
	for _, c := range resp.Cookies {
		if len(c) > len("__Secure-refresh_token=") && c[:len("__Secure-refresh_token=")] == "__Secure-refresh_token=" {
			v := c[len("__Secure-refresh_token="):]
			for i := range len(v) {
				if v[i] == ';' {
					return v[:i]
				}
			}
			return v
		}
	}
	b.Fatalf("no refresh cookie in %v", resp.Cookies)
	return ""
}

// reportCalls reports the AWS calls per operation of the last b.N
// operations, in all and by API ("DynamoDB.GetItem/op").
func reportCalls(b *testing.B, calls *testenv.Counter) {
	b.ReportMetric(float64(calls.Service("KMS"))/float64(b.N), "kms-calls/op")
	b.ReportMetric(float64(calls.Service("DynamoDB"))/float64(b.N), "ddb-calls/op")
	for _, op := range calls.Ops() {
		b.ReportMetric(float64(calls.Op(op))/float64(b.N), op+"/op")
	}
}

// BenchmarkLogin is one successful login: argon2id at the service's
// parameters, the throttle record, the user, the session, one KMS Sign.
func BenchmarkLogin(b *testing.B) {
	env := testenv.New(b)
	env.CreateUser(b, "bench", benchPassword)
	calls := testenv.NewCounter()
	login := benchWire(b, env, calls, app.Login)
	benchLogin(b, login) // warm: connections open
	calls.Reset()
	cpu := startCPU()
	for b.Loop() {
		benchLogin(b, login)
	}
	cpu.report(b)
	reportCalls(b, calls)
}

// BenchmarkRefresh is one rotation of a refresh token: read the session,
// its standing, rotate, sign a new access token.
func BenchmarkRefresh(b *testing.B) {
	env := testenv.New(b)
	env.CreateUser(b, "bench", benchPassword)
	calls := testenv.NewCounter()
	login := benchWire(b, env, calls, app.Login)
	refresh := benchWire(b, env, calls, app.Refresh)
	tok := refreshCookie(b, benchLogin(b, login))
	do := func() {
		resp, err := refresh(context.Background(), benchEvent(b, "refresh", "REPLACE_WITH_REFRESH_TOKEN", tok))
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("refresh: %d %s %v", resp.StatusCode, resp.Body, err)
		}
		tok = refreshCookie(b, resp)
	}
	do() // warm
	calls.Reset()
	cpu := startCPU()
	for b.Loop() {
		do()
	}
	cpu.report(b)
	reportCalls(b, calls)
}

// initWires wires each function as its main does at a cold start, by its
// folder under functions/ (TestInitWiresCoverEveryFunction keeps the list
// complete: scripts/bench judges every function's init from it).
var initWires = map[string]func(*testing.B, *testenv.Env, *testenv.Counter){
	"authorizer":          func(b *testing.B, e *testenv.Env, c *testenv.Counter) { benchWire(b, e, c, app.Authorizer) },
	"discovery":           func(b *testing.B, e *testenv.Env, c *testenv.Counter) { benchWire(b, e, c, app.Discovery) },
	"end-session":         func(b *testing.B, e *testenv.Env, c *testenv.Counter) { benchWire(b, e, c, app.EndSession) },
	"jwks":                func(b *testing.B, e *testenv.Env, c *testenv.Counter) { benchWire(b, e, c, app.JWKS) },
	"login":               func(b *testing.B, e *testenv.Env, c *testenv.Counter) { benchWire(b, e, c, app.Login) },
	"logout":              func(b *testing.B, e *testenv.Env, c *testenv.Counter) { benchWire(b, e, c, app.Logout) },
	"logout-all":          func(b *testing.B, e *testenv.Env, c *testenv.Counter) { benchWire(b, e, c, app.LogoutAll) },
	"me":                  func(b *testing.B, e *testenv.Env, c *testenv.Counter) { benchWire(b, e, c, app.Me) },
	"passkey-login":       func(b *testing.B, e *testenv.Env, c *testenv.Counter) { benchWire(b, e, c, passkeyapp.PasskeySignIn) },
	"passkeys":            func(b *testing.B, e *testenv.Env, c *testenv.Counter) { benchWire(b, e, c, passkeyapp.Passkeys) },
	"refresh":             func(b *testing.B, e *testenv.Env, c *testenv.Counter) { benchWire(b, e, c, app.Refresh) },
	"revocation-feed":     func(b *testing.B, e *testenv.Env, c *testenv.Counter) { benchWire(b, e, c, app.RevocationFeed) },
	"revocation-snapshot": func(b *testing.B, e *testenv.Env, c *testenv.Counter) { benchWire(b, e, c, app.RevocationSnapshot) },
	"revoke":              func(b *testing.B, e *testenv.Env, c *testenv.Counter) { benchWire(b, e, c, app.Revoke) },
	"sessions":            func(b *testing.B, e *testenv.Env, c *testenv.Counter) { benchWire(b, e, c, app.Sessions) },
	"token-introspection": func(b *testing.B, e *testenv.Env, c *testenv.Counter) { benchWire(b, e, c, app.TokenIntrospection) },
	"token-revocation":    func(b *testing.B, e *testenv.Env, c *testenv.Counter) { benchWire(b, e, c, app.TokenRevocation) },
	"totp":                func(b *testing.B, e *testenv.Env, c *testenv.Counter) { benchWire(b, e, c, app.TOTP) },
}

// BenchmarkWire builds each function as its main does at a cold start
// (configuration, AWS clients, public keys, the dummy password hash) and
// reports the AWS calls that costs, per function: what scripts/bench
// judges avoidable or not.
func BenchmarkWire(b *testing.B) {
	env := testenv.New(b)
	for _, name := range slices.Sorted(maps.Keys(initWires)) {
		b.Run(name, func(b *testing.B) {
			calls := testenv.NewCounter()
			for b.Loop() {
				initWires[name](b, env, calls)
			}
			reportCalls(b, calls)
		})
	}
}

// TestInitWiresCoverEveryFunction: BenchmarkWire measures the init of
// every function under functions/ (it once covered 8 of 13, and the
// report's verdict covered only those).
func TestInitWiresCoverEveryFunction(t *testing.T) {
	mains, err := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "functions", "*", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	var folders []string
	for _, m := range mains {
		folders = append(folders, filepath.Base(filepath.Dir(m)))
	}
	if len(folders) < 13 {
		t.Fatalf("found %d functions, want at least 13: the glob reads the wrong folder", len(folders))
	}
	if got, want := slices.Sorted(maps.Keys(initWires)), slices.Sorted(slices.Values(folders)); !slices.Equal(got, want) {
		t.Errorf("BenchmarkWire wires %v, functions/ holds %v", got, want)
	}
}

// BenchmarkAuthorize is the authorizer function's whole warm request as
// deployed by default (replica mode: the revocation replica syncs with the
// local DynamoDB at most once a second, the token is cached after its
// first check): the payload 2.0 event in, the simple response out (Invoke,
// as the Lambda runtime calls it).
func BenchmarkAuthorize(b *testing.B) { benchAuthorize(b, "replica") }

// BenchmarkAuthorizeStrict is the same in strict mode: one consistent
// BatchGetItem of the token's revocation entries per request.
func BenchmarkAuthorizeStrict(b *testing.B) { benchAuthorize(b, "strict") }

func benchAuthorize(b *testing.B, mode string) {
	env := testenv.New(b)
	env.Set("REVOCATION_MODE", mode)
	env.CreateUser(b, "bench", benchPassword)
	calls := testenv.NewCounter()
	login := benchWire(b, env, calls, app.Login)
	authz := benchWire(b, env, calls, app.Authorizer)
	var body apigw.TokenResponse
	if err := json.Unmarshal([]byte(benchLogin(b, login).Body), &body); err != nil {
		b.Fatal(err)
	}
	ev := testenv.Event(b, "authorizer", "REPLACE_WITH_ACCESS_TOKEN", body.AccessToken)
	do := func() {
		out, err := authz.Invoke(context.Background(), ev)
		if err != nil || !bytes.HasPrefix(out, []byte(`{"isAuthorized":true`)) {
			b.Fatalf("authorize: %s %v", out, err)
		}
	}
	do() // warm
	calls.Reset()
	cpu := startCPU()
	for b.Loop() {
		do()
	}
	cpu.report(b)
	reportCalls(b, calls)
}

// BenchmarkKMSSign is the bare KMS Sign round trip login and refresh make
// (ECDSA P-256, a SHA-256 digest).
func BenchmarkKMSSign(b *testing.B) {
	env := testenv.New(b)
	digest := sha256.Sum256([]byte("signing input"))
	in := &kms.SignInput{KeyId: &env.KeyID, Message: digest[:], MessageType: kmstypes.MessageTypeDigest,
		SigningAlgorithm: kmstypes.SigningAlgorithmSpecEcdsaSha256}
	if _, err := env.KMS.Sign(context.Background(), in); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := env.KMS.Sign(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDynamoDBGetItem is the bare DynamoDB round trip: a strongly
// consistent GetItem of a key that is not there, as for a token nobody
// revoked.
func BenchmarkDynamoDBGetItem(b *testing.B) {
	env := testenv.New(b)
	in := &dynamodb.GetItemInput{TableName: &env.Tables.Revocations, ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "jti#nobody"}}}
	if _, err := env.DB.GetItem(context.Background(), in); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := env.DB.GetItem(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRevocationLookup is the authorizer's one DynamoDB call: a
// consistent BatchGetItem of a token's jti, sid and sub entries.
func BenchmarkRevocationLookup(b *testing.B) {
	env := testenv.New(b)
	ctx := context.Background()
	if _, err := env.Store.Revocations(ctx, "j", "s", "u"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := env.Store.Revocations(ctx, "j", "s", "u"); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuClock measures the CPU time (user and system, every thread) this
// process spends in a benchmark loop; the local servers' time is not in it.
type cpuClock struct{ start time.Duration }

func startCPU() cpuClock { return cpuClock{processCPU()} }

func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64(processCPU()-c.start)/float64(b.N), "cpu-ns/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
