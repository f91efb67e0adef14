package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/authkit/lambda-auth/scripts/localapi"
)

// run is scripts/dev: everything up, then serve until a signal.
func run(ctx context.Context, args []string) error {
	started := time.Now()
	fs := flag.NewFlagSet("scripts/dev", flag.ContinueOnError)
	port := fs.Int("port", 3000, "port of the local API on 127.0.0.1 (0: any free port)")
	kmsPort := fs.Int("kms-port", 4599, "port of local KMS (0: any free port); infra/env.json expects 4599")
	dynamoPort := fs.Int("dynamodb-port", 4567, "port of local DynamoDB (0: any free port); infra/env.json expects 4567")
	dynamoHost := fs.String("dynamodb-host", "127.0.0.1", "address local DynamoDB listens on (0.0.0.0 lets Docker containers reach it on Linux)")
	state := fs.String("state", ".local/dev", "folder for the local KMS keys, tables, builds and logs")
	reset := fs.Bool("reset", false, "delete the state folder first: start from empty")
	verbose := fs.Bool("verbose", false, "also print every function's log lines here (they are always in STATE/logs)")
	params := paramFlag{}
	fs.Var(params, "param", "a stack parameter of template.yaml, Name=Value (repeatable), e.g. --param AccessTokenTTL=2m")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	stateDir, err := filepath.Abs(*state)
	if err != nil {
		return err
	}
	lock, err := lockState(stateDir, *reset)
	if err != nil {
		return err
	}
	defer lock.Close()
	envFile := filepath.Join(stateDir, "endpoints.env")
	os.Remove(envFile) // present only while everything is up
	for _, d := range []string{"kms", "dynamodb", "logs", "build"} {
		if err := os.MkdirAll(filepath.Join(stateDir, d), 0o700); err != nil {
			return err
		}
	}
	tpl, err := localapi.Load(root)
	if err != nil {
		return err
	}
	for k := range params {
		if _, ok := tpl.Parameters[k]; !ok {
			return fmt.Errorf("--param %s: template.yaml has no such parameter", k)
		}
	}
	say := func(format string, a ...any) { fmt.Fprintf(os.Stderr, "dev: "+format+"\n", a...) }

	// Local KMS and DynamoDB, and the build, side by side.
	var (
		servers  *localServers
		builtDir string
		buildErr error
		wg       sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		builtDir, buildErr = buildAll(ctx, root, filepath.Join(stateDir, "build"))
	}()
	servers, err = startServers(ctx, root, stateDir, *kmsPort, *dynamoHost, *dynamoPort)
	if servers != nil {
		defer servers.stop()
	}
	wg.Wait()
	if err != nil {
		return err
	}
	if buildErr != nil {
		return buildErr
	}
	say("local KMS at %s, local DynamoDB at %s; functions built (%.1fs)", servers.kmsURL, servers.dynamoURL, time.Since(started).Seconds())

	aws, err := newAWS(ctx, servers.kmsURL, servers.dynamoURL)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		return fmt.Errorf("local API port: %w (use --port)", err)
	}
	defer ln.Close()
	baseURL := "http://" + ln.Addr().String()
	_, apiPort, _ := net.SplitHostPort(ln.Addr().String())
	origins := []string{"http://127.0.0.1:" + apiPort, "http://localhost:" + apiPort, "https://app.example.com"}
	stackParams := localapi.LocalParams(tpl, origins, params)

	keyARN, err := aws.ensureKey(ctx, kmstypes.KeySpec(stackParams["SigningKeySpec"]))
	if err != nil {
		return err
	}
	if err := aws.ensureTables(ctx, tpl); err != nil {
		return err
	}
	if err := aws.ensureDemoUser(ctx, localapi.TableName("UsersTable")); err != nil {
		return err
	}
	say("key, tables and demo user ready (%.1fs)", time.Since(started).Seconds())

	rie, err := toolPath(root, "aws-lambda-rie")
	if err != nil {
		return err
	}
	lambdas, err := startLambdas(ctx, tpl, lambdaSetup{ // then every function is initialised
		rie:       rie,
		builtDir:  builtDir,
		logDir:    filepath.Join(stateDir, "logs"),
		verbose:   *verbose,
		params:    stackParams,
		resources: localapi.LocalResources(tpl, keyARN),
		endpoints: localapi.EndpointVariables(servers.kmsURL, servers.dynamoURL),
	})
	defer func() {
		for _, l := range lambdas {
			l.Stop()
		}
	}()
	if err != nil {
		return err
	}

	invokers := map[string]localapi.Invoker{}
	for id, l := range lambdas {
		invokers[id] = l
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	gw, err := localapi.NewGateway(tpl, invokers, logger)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()

	vars := [][2]string{
		{"API_URL", baseURL},
		{"AWS_ENDPOINT_URL_KMS", servers.kmsURL},
		{"AWS_ENDPOINT_URL_DYNAMODB", servers.dynamoURL},
		{"AWS_REGION", "us-east-1"},
		// For the SDK in scripts (go run ./scripts/create-user): the stand-ins
		// take any credentials; never the user's own, nor instance metadata.
		{"AWS_ACCESS_KEY_ID", "local"},
		{"AWS_SECRET_ACCESS_KEY", "local"},
		{"AWS_EC2_METADATA_DISABLED", "true"},
		{"SIGNING_KEY_ID", keyARN},
		{"USERS_TABLE", localapi.TableName("UsersTable")},
		{"LOGIN_THROTTLE_TABLE", localapi.TableName("LoginThrottleTable")},
		{"SESSIONS_TABLE", localapi.TableName("SessionsTable")},
		{"REVOCATIONS_TABLE", localapi.TableName("RevocationsTable")},
		{"DEMO_USERNAME", localapi.DemoUsername},
		{"DEMO_PASSWORD", localapi.DemoPassword},
	}
	for _, k := range sortedKeys(params) { // for scripts/invoke: the same stack
		vars = append(vars, [2]string{"PARAM_" + k, params[k]})
	}
	if err := writeEnvFile(envFile, vars); err != nil {
		return err
	}
	defer os.Remove(envFile)
	printBanner(os.Stdout, baseURL, envFile, stateDir, servers, tpl, stackParams, time.Since(started))

	select {
	case <-ctx.Done():
		say("stopping")
		return nil
	case err := <-serveErr:
		return err
	case err := <-servers.exited():
		return err
	case id := <-firstExit(lambdas):
		return fmt.Errorf("%s's emulator exited: %v (log: %s)", id, lambdas[id].Err(), filepath.Join(stateDir, "logs", id+".log"))
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// paramFlag collects --param Name=Value.
type paramFlag map[string]string

func (p paramFlag) String() string { return "" }

func (p paramFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want Name=Value, got %q", s)
	}
	p[k] = v
	return nil
}

// lambdaSetup is what every function's emulator is started with.
type lambdaSetup struct {
	rie, builtDir, logDir        string
	verbose                      bool
	params, resources, endpoints map[string]string
}

// startLambdas starts every function under its own emulator and runs each
// one's init (a cold start, as on the first request on Lambda) with an
// empty event, so that a function that cannot start is reported now.
func startLambdas(ctx context.Context, tpl *localapi.Template, s lambdaSetup) (map[string]*localapi.Lambda, error) {
	var (
		mu      sync.Mutex
		lambdas = map[string]*localapi.Lambda{}
		errs    []error
		wg      sync.WaitGroup
	)
	for id, f := range tpl.Functions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := startLambda(ctx, tpl, f, s)
			mu.Lock()
			defer mu.Unlock()
			if l != nil {
				lambdas[id] = l
			}
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return lambdas, errors.Join(errs...)
}

func startLambda(ctx context.Context, tpl *localapi.Template, f *localapi.Function, s lambdaSetup) (*localapi.Lambda, error) {
	env, err := localapi.FunctionEnv(tpl, f, s.params, s.resources, s.endpoints)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(s.logDir, f.ID+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	var out io.Writer = logFile
	if s.verbose {
		out = io.MultiWriter(logFile, &prefixWriter{prefix: "[" + f.Folder + "] ", w: os.Stderr})
	}
	// A free port can be taken by another program before the emulator binds
	// it (its runtime API port then fails the init): try again on new ports.
	for attempt := 1; ; attempt++ {
		l, err := localapi.StartLambda(ctx, localapi.LambdaConfig{
			RIE:       s.rie,
			Bootstrap: filepath.Join(s.builtDir, f.Folder, "bootstrap"),
			Function:  f,
			Env:       env,
			Output:    out,
		})
		if err != nil {
			return nil, err
		}
		err = warmUp(ctx, l)
		if err == nil {
			return l, nil
		}
		l.Stop()
		if attempt == 3 || ctx.Err() != nil {
			return nil, fmt.Errorf("%s did not start: %v\n%s", f.ID, err, tail(logPath, 20))
		}
	}
}

// warmUp runs the function's init with an empty event. An error answer of
// the handler to it is fine: init worked.
func warmUp(ctx context.Context, l *localapi.Lambda) error {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := l.Invoke(wctx, []byte("{}"))
	var fe *localapi.FunctionError
	if err != nil && (!errors.As(err, &fe) || strings.HasPrefix(fe.Type, "Runtime.") || strings.HasPrefix(fe.Type, "Sandbox.")) {
		return err
	}
	return nil
}

func firstExit(lambdas map[string]*localapi.Lambda) <-chan string {
	ch := make(chan string, len(lambdas))
	for id, l := range lambdas {
		go func() {
			<-l.Done()
			ch <- id
		}()
	}
	return ch
}

// writeEnvFile writes KEY=value lines, readable by `set -a; . FILE` and by
// scripts, atomically and private to the user (it names the demo password).
func writeEnvFile(path string, vars [][2]string) error {
	var b strings.Builder
	b.WriteString("# Written by scripts/dev while it runs; removed when it stops.\n")
	for _, kv := range vars {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], shellQuote(kv[1]))
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// shellQuote quotes a value only when it needs it ('a b' -> 'a b').
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./-_", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type prefixWriter struct {
	mu     sync.Mutex
	prefix string
	w      io.Writer
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			return len(b), nil
		}
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.buf = p.buf[i+1:]
	}
}

// printBanner tells a newcomer what runs where, and gives the whole flow as
// shell lines to paste (TestBannerFlow runs them).
func printBanner(w io.Writer, baseURL, envFile, stateDir string, s *localServers, tpl *localapi.Template, params map[string]string, took time.Duration) {
	var routes []string
	for _, r := range tpl.Routes {
		guard := "public"
		if r.Authorizer != "" {
			guard = "behind " + r.Authorizer
		}
		routes = append(routes, fmt.Sprintf("  %-28s -> %-18s (%s)", r.Key(), r.Function, guard))
	}
	sort.Strings(routes)
	grace, err := time.ParseDuration(params["RefreshReuseGrace"])
	if err != nil {
		grace = 5 * time.Second
	}
	wait := int(grace.Seconds()) + 1
	fmt.Fprintf(w, "\nLocal API ready in %.1fs at %s\n%s\n\nDemo user: %s / %s\n\n",
		took.Seconds(), baseURL, strings.Join(routes, "\n"), localapi.DemoUsername, localapi.DemoPassword)
	fmt.Fprint(w, strings.NewReplacer(
		"$$API", baseURL,
		"$$JAR", filepath.Join(stateDir, "cookies.txt"),
		"$$USER", localapi.DemoUsername,
		"$$PASSWORD", localapi.DemoPassword,
		"$$WAIT", fmt.Sprint(wait),
		"$$GRACE", grace.String(),
		"$$INVOKE", invokeCommand(stateDir),
	).Replace(flowLines))
	fmt.Fprintf(w, `
Local KMS:      %s (local-kms has no address setting: it listens on every interface)
Local DynamoDB: %s
Endpoints for scripts: %s   (set -a; . %s; set +a)
Function logs:  %s
Ctrl-C stops everything; keys and tables stay in %s (--reset starts from empty).
`, s.kmsURL, s.dynamoURL, envFile, envFile, filepath.Join(stateDir, "logs"), stateDir)
}

// invokeCommand is scripts/invoke, with --state unless it is the default.
func invokeCommand(stateDir string) string {
	if root, err := repoRoot(); err == nil && stateDir == filepath.Join(root, ".local", "dev") {
		return "scripts/invoke"
	}
	return "scripts/invoke --state " + shellQuote(stateDir)
}

// flowLines is the whole flow for curl, between the two marker lines.
const flowLines = `Try the whole flow: paste these lines into a shell (bash or zsh).
# ---8<---
API=$$API JAR=$$JAR
login() { curl -s -c "$JAR" "$API/auth/login" -H 'Content-Type: application/json' -d '{"username":"$$USER","password":"$$PASSWORD"}' | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'; }
# 1. Log in: the access token comes in the body, the refresh token in an HttpOnly cookie (the jar).
TOKEN=$(login); echo "access token: ${TOKEN:0:24}..."
# 2. A protected call: the authorizer verifies the token, /me echoes what it put in the context.
curl -s "$API/me" -H "Authorization: Bearer $TOKEN"; echo
# 3. Refresh: a new access token, and the refresh cookie is rotated (keep the old one to replay it).
cp "$JAR" "$JAR.old"; curl -s -b "$JAR" -c "$JAR" -X POST "$API/auth/refresh"; echo
# 4. Reuse detection: replay the old cookie after the grace window ($$GRACE): 401, and the whole
#    session is revoked: its current refresh token and its access tokens too.
sleep $$WAIT; curl -s -b "$JAR.old" -X POST "$API/auth/refresh"; echo
curl -s -b "$JAR" -X POST "$API/auth/refresh"; echo
curl -s "$API/me" -H "Authorization: Bearer $TOKEN"; echo
# 5. Log out of all devices: every session and access token of the user ends at once.
TOKEN=$(login); curl -s -X POST "$API/auth/logout-all" -H "Authorization: Bearer $TOKEN"; echo
curl -s "$API/me" -H "Authorization: Bearer $TOKEN"; echo
# 6. Revoke from the console: the revoke function with a sample event ends alice's sessions.
TOKEN=$(login); curl -s "$API/me" -H "Authorization: Bearer $TOKEN"; echo
$$INVOKE revoke events/revoke-user.json
curl -s "$API/me" -H "Authorization: Bearer $TOKEN"; echo
# --->8---
`

// readEnvFile reads the KEY=value lines writeEnvFile wrote.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			v = strings.ReplaceAll(v[1:len(v)-1], `'\''`, "'")
		}
		out[k] = v
	}
	return out, sc.Err()
}
