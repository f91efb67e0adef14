package main

import (
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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
)

// run is scripts/dev: everything up, then serve until a signal.
func run(ctx context.Context, args []string) error {
	started := commandStart(os.Getenv, time.Now())
	os.Unsetenv(startedEnv) // scripts/dev's own: not for the functions, nor a scripts/dev started from here
	fs := flag.NewFlagSet("scripts/dev", flag.ContinueOnError)
	port := fs.Int("port", 3000, "port of the local API on 127.0.0.1 (0: any free port)")
	lambdaPort := fs.Int("lambda-port", 3001, "port of the local Lambda Invoke API on 127.0.0.1, as sam local start-lambda (0: any free port)")
	kmsPort := fs.Int("kms-port", 4599, "port of local KMS (0: any free port); infra/env.json expects 4599")
	dynamoPort := fs.Int("dynamodb-port", 4567, "port of local DynamoDB (AWS's DynamoDB Local; 0: any free port); infra/env.json expects 4567")
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
	explicit := map[string]bool{} // flags given on the command line
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	root, tpl, err := loadTemplate(params)
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
	prog := newProgress(os.Stderr, isTerminal(os.Stderr), started, time.Now, 5*time.Second)
	defer prog.Close()
	say := prog.Say

	// Every port before any work: the API's is held from now on.
	ln, err := listen("the local API", "port", *port, explicit["port"], say)
	if err != nil {
		return err
	}
	defer ln.Close()
	lambdaLn, err := listen("the local Lambda Invoke API", "lambda-port", *lambdaPort, explicit["lambda-port"], say)
	if err != nil {
		return err
	}
	defer lambdaLn.Close()
	if *kmsPort, err = choosePort("local KMS", "kms-port", "", *kmsPort, explicit["kms-port"], say); err != nil {
		return err
	}
	if *dynamoPort, err = choosePort("local DynamoDB", "dynamodb-port", "", *dynamoPort, explicit["dynamodb-port"], say); err != nil {
		return err
	}

	envFile := filepath.Join(stateDir, localaws.EndpointsFile)
	os.Remove(envFile) // present only while everything is up
	for _, d := range []string{"kms", "dynamodb", "logs", "build"} {
		if err := os.MkdirAll(filepath.Join(stateDir, d), 0o700); err != nil {
			return err
		}
	}

	// Local KMS and DynamoDB, the functions' build and the Go tools'
	// (local-kms and aws-lambda-rie, when scripts/dev's install left them
	// to this program), side by side: three go commands sharing no package
	// but the standard library, which the runner's build compiled.
	var (
		builtDir string
		buildErr error
		wg       sync.WaitGroup
		toolsErr error
	)
	toolsDone := make(chan struct{})
	toolsCtx, cancelTools := context.WithCancel(ctx)
	defer cancelTools()
	tools := &toolsProgress{}
	installing := prog.Start("installing local-kms and aws-lambda-rie (scripts/install-tools --dev --go-tools)", tools.detail)
	go func() {
		defer close(toolsDone)
		toolsErr = installGoTools(toolsCtx, root, filepath.Join(stateDir, "logs", "install-tools.log"), tools)
		if toolsErr == nil {
			installing.Done(tools.result())
		}
	}()
	count := &buildCount{}
	building := prog.Start(fmt.Sprintf("building %d functions (go install)", len(tpl.Functions)), count.String)
	wg.Add(1)
	go func() {
		defer wg.Done()
		builtDir, buildErr = buildAll(ctx, root, filepath.Join(stateDir, "build"), count)
		if buildErr == nil {
			building.Done(count.String())
		}
	}()
	starting := prog.Start("starting local KMS and DynamoDB Local", nil)
	servers, err := localaws.Start(ctx, localaws.Config{
		Root: root, DataDir: stateDir, LogDir: filepath.Join(stateDir, "logs"),
		KMSPort: *kmsPort, DynamoDBPort: *dynamoPort, Logf: say,
		KMSReady: func(ctx context.Context) error {
			select {
			case <-toolsDone:
				return toolsErr
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	if servers != nil {
		defer servers.Stop()
	}
	if err == nil {
		starting.Done(fmt.Sprintf("local KMS at %s, local DynamoDB at %s", servers.KMSURL, servers.DynamoDBURL))
	}
	wg.Wait()
	if err != nil {
		cancelTools() // Start failed before it waited for them
	}
	<-toolsDone
	if err != nil {
		return err
	}
	if buildErr != nil {
		return buildErr
	}
	preparing := prog.Start("creating the signing keys, the tables and the demo user", nil)

	baseURL := "http://" + ln.Addr().String()
	stackParams := localapi.LocalParams(tpl, baseURL, params)

	kmsClient, db := localaws.Clients(servers.KMSURL, servers.DynamoDBURL)
	hint := func(err error) error {
		if errors.Is(err, localaws.ErrMismatch) {
			return fmt.Errorf("%w: run scripts/dev --reset", err)
		}
		return err
	}
	keyARN, err := localaws.EnsureKey(ctx, kmsClient, localapi.KeyAlias, kmstypes.KeySpec(stackParams["SigningKeySpec"]),
		"lambda-auth local signing key (scripts/dev)")
	if err != nil {
		return hint(err)
	}
	macARN, err := localaws.EnsureKey(ctx, kmsClient, localapi.MACKeyAlias, kmstypes.KeySpecHmac256,
		"lambda-auth local keyed-hash key (scripts/dev)")
	if err != nil {
		return hint(err)
	}
	if _, err := localaws.EnsureKey(ctx, kmsClient, localapi.TOTPKeyAlias, kmstypes.KeySpecSymmetricDefault,
		"lambda-auth local TOTP secret key (scripts/dev)"); err != nil {
		return hint(err)
	}
	if _, err := localaws.EnsureTables(ctx, db, tpl.Tables, localapi.TableName); err != nil {
		return hint(err)
	}
	users := dynamo.New(db, dynamo.Tables{Users: localapi.TableName("UsersTable")})
	demo := localaws.User{Username: localapi.DemoUsername, Password: localapi.DemoPassword, ID: localapi.DemoUserID,
		Scopes: localapi.DemoScopes}
	if err := localaws.EnsureUser(ctx, users, demo); err != nil {
		return err
	}
	preparing.Done("")

	rie, err := localaws.ToolPath(root, "aws-lambda-rie")
	if err != nil {
		return err
	}
	var ready atomic.Int64
	initialising := prog.Start(fmt.Sprintf("starting %d functions (aws-lambda-rie, init)", len(tpl.Functions)),
		func() string { return fmt.Sprintf("%d of %d ready", ready.Load(), len(tpl.Functions)) })
	lambdas, err := startLambdas(ctx, tpl, &ready, lambdaSetup{ // then every function is initialised
		rie:       rie,
		builtDir:  builtDir,
		logDir:    filepath.Join(stateDir, "logs"),
		verbose:   *verbose,
		params:    stackParams,
		resources: localapi.LocalResources(tpl, keyARN, macARN),
		endpoints: localapi.EndpointVariables(servers.KMSURL, servers.DynamoDBURL),
	})
	defer func() {
		for _, l := range lambdas {
			l.Stop()
		}
	}()
	if err != nil {
		return err
	}
	initialising.Done(fmt.Sprintf("%d of %d ready", ready.Load(), len(tpl.Functions)))

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
	// The event source mappings (the Revocations table's stream into the
	// revocation-feed function), polled as Lambda polls them.
	mappings, skipped := localapi.StartStreams(ctx, tpl, db, localaws.StreamsClient(servers.DynamoDBURL), invokers, localapi.TableName, logger)
	for _, m := range mappings {
		say("event source mapping: %s", m)
	}
	for fn, err := range skipped {
		say("event source mapping of %s not started: %v", fn, err)
	}
	gw, err := localapi.NewGateway(tpl, invokers, logger)
	if err != nil {
		return err
	}
	cors, err := tpl.CORSPolicy(stackParams)
	if err != nil {
		return err
	}
	gw.UseCORS(cors)
	srv := &http.Server{Handler: withDemo(root, gw), ReadHeaderTimeout: 10 * time.Second}
	// The Lambda Invoke API, for scripts (scripts/create-user invokes the
	// revoke function) and `aws lambda invoke --endpoint-url`.
	lambdaSrv := &http.Server{Handler: localapi.InvokeAPI(invokers), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(ln) }()
	go func() { serveErr <- lambdaSrv.Serve(lambdaLn) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		lambdaSrv.Shutdown(sctx)
	}()
	lambdaURL := "http://" + lambdaLn.Addr().String()

	vars := [][2]string{
		{"API_URL", baseURL},
		{"AWS_ENDPOINT_URL_KMS", servers.KMSURL},
		{"AWS_ENDPOINT_URL_DYNAMODB", servers.DynamoDBURL},
		{"AWS_ENDPOINT_URL_LAMBDA", lambdaURL},
		{"AWS_REGION", localaws.Region},
		// For the SDK in scripts (set -a; . endpoints.env): the stand-ins
		// take any credentials; never the user's own, nor instance metadata.
		{"AWS_ACCESS_KEY_ID", "local"},
		{"AWS_SECRET_ACCESS_KEY", "local"},
		{"AWS_EC2_METADATA_DISABLED", "true"},
		{"SIGNING_KEY_ID", keyARN},
		{"MAC_KEY_ID", macARN},
		{"USERS_TABLE", localapi.TableName("UsersTable")},
		{"LOGIN_THROTTLE_TABLE", localapi.TableName("LoginThrottleTable")},
		{"SESSIONS_TABLE", localapi.TableName("SessionsTable")},
		{"REVOCATIONS_TABLE", localapi.TableName("RevocationsTable")},
		{"REVOCATION_FEED_TABLE", localapi.TableName("RevocationFeedTable")},
		{"REVOCATION_SNAPSHOT_TABLE", localapi.TableName("RevocationSnapshotTable")},
		{"MFA_TABLE", localapi.TableName("MfaTable")},
		{"TOTP_KEY_ID", localapi.TOTPKeyAlias},
		{"REVOKE_FUNCTION", "RevokeFunction"},
		{"DEMO_USERNAME", localapi.DemoUsername},
		{"DEMO_PASSWORD", localapi.DemoPassword},
	}
	for _, k := range sortedKeys(params) { // for scripts/invoke: the same stack
		vars = append(vars, [2]string{"PARAM_" + k, params[k]})
	}
	if err := localaws.WriteEnvFile(envFile, "Written by scripts/dev while it runs; removed when it stops.", vars); err != nil {
		return err
	}
	defer os.Remove(envFile)
	prog.Close()
	printBanner(os.Stdout, baseURL, lambdaURL, envFile, stateDir, servers, tpl, stackParams, cors, time.Since(started))

	select {
	case <-ctx.Done():
		say("stopping")
		return nil
	case err := <-serveErr:
		return err
	case err := <-servers.Exited():
		return err
	case id := <-firstExit(lambdas):
		return fmt.Errorf("%s's emulator exited: %v (log: %s)", id, lambdas[id].Err(), filepath.Join(stateDir, "logs", id+".log"))
	}
}

// loadTemplate reads template.yaml and checks params (--param Name=Value)
// against its parameters' constraints.
func loadTemplate(params paramFlag) (root string, tpl *localapi.Template, err error) {
	if root, err = localaws.RepoRoot(); err != nil {
		return "", nil, err
	}
	if tpl, err = localapi.Load(root); err != nil {
		return "", nil, err
	}
	if err := tpl.CheckParams(params); err != nil {
		return "", nil, fmt.Errorf("--param: %w", err)
	}
	return root, tpl, nil
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
// ready counts the functions initialised (for the progress display).
func startLambdas(ctx context.Context, tpl *localapi.Template, ready *atomic.Int64, s lambdaSetup) (map[string]*localapi.Lambda, error) {
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
			if err == nil {
				ready.Add(1)
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
func printBanner(w io.Writer, baseURL, lambdaURL, envFile, stateDir string, s *localaws.Servers, tpl *localapi.Template, params map[string]string, cors *localapi.CORSPolicy, took time.Duration) {
	var routes []string
	for _, r := range tpl.Routes {
		guard := "public"
		switch {
		case r.Authorizer != "":
			guard = "behind " + r.Authorizer
		case r.IAM:
			guard = "AWS_IAM: signed with SigV4"
		}
		routes = append(routes, fmt.Sprintf("  %-28s -> %-18s (%s)", r.Key(), r.Function, guard))
	}
	sort.Strings(routes)
	grace, err := time.ParseDuration(params["RefreshReuseGrace"])
	if err != nil {
		grace = 5 * time.Second
	}
	wait := int(auth.ReplacedTokenWindow(grace).Seconds()) + 1
	// Replica mode: every authorizer sees a revocation within the sync
	// interval (strict mode: at once).
	syncWait := "0"
	if params["RevocationMode"] != "strict" {
		if d, err := time.ParseDuration(params["RevocationSyncInterval"]); err == nil {
			syncWait = strconv.FormatFloat((d + 100*time.Millisecond).Seconds(), 'f', -1, 64)
		}
	}
	fmt.Fprintf(w, "\nLocal API ready in %.1fs (since scripts/dev started) at %s\n%s\n\nDemo page: %s%s (the browser client, shared/web/auth-client.js)\nDemo user: %s / %s\n",
		took.Seconds(), baseURL, strings.Join(routes, "\n"), baseURL, DemoPath, localapi.DemoUsername, localapi.DemoPassword)
	if cors != nil {
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(baseURL, "http://"))
		fmt.Fprintf(w, "CORS (with credentials) for: %s\n  Another front end: --param AllowedOrigins=http://localhost:5173, and call the API as http://localhost:%s\n  (same site as localhost:5173, so the SameSite=Strict refresh cookie goes along).\n",
			strings.Join(cors.AllowOrigins, " "), port)
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, strings.NewReplacer(
		"$$API", baseURL,
		"$$JAR", filepath.Join(stateDir, "cookies.txt"),
		"$$USER", localapi.DemoUsername,
		"$$PASSWORD", localapi.DemoPassword,
		"$$WAIT", fmt.Sprint(wait),
		"$$GRACE", grace.String(),
		"$$SYNC", syncWait,
		"$$INVOKE", invokeCommand(stateDir),
	).Replace(flowLines))
	fmt.Fprintf(w, `
Local KMS:      %s (local-kms has no address setting: it listens on every interface)
Local DynamoDB: %s
Lambda Invoke API: %s (as sam local start-lambda; functions by logical id, e.g. RevokeFunction)
Metadata (RFC 8414, the issuer's): %s/.well-known/openid-configuration
  (POST /auth/introspect takes requests signed with SigV4 by AWS_ACCESS_KEY_ID=local, AWS_SECRET_ACCESS_KEY=local)
Endpoints for scripts: %s   (set -a; . %s; set +a)
Add a user:     %s -username bob@example.com
Function logs:  %s
Ctrl-C stops everything; keys and tables stay in %s (--reset starts from empty).
`, s.KMSURL, s.DynamoDBURL, lambdaURL, baseURL, envFile, envFile, withState("scripts/create-user", "-state", stateDir), filepath.Join(stateDir, "logs"), stateDir)
}

// invokeCommand is scripts/invoke, with --state unless it is the default.
func invokeCommand(stateDir string) string { return withState("scripts/invoke", "--state", stateDir) }

// withState is a script's command line, with the state folder unless it
// is the default one, which the script finds by itself.
func withState(script, flag, stateDir string) string {
	if root, err := localaws.RepoRoot(); err == nil && stateDir == filepath.Join(root, ".local", "dev") {
		return script
	}
	return script + " " + flag + " " + localaws.ShellQuote(stateDir)
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
sleep $$SYNC; curl -s "$API/me" -H "Authorization: Bearer $TOKEN"; echo
# 5. Log out of all devices: every session and access token of the user ends; the authorizers
#    see it within their revocation sync interval ($$SYNC s here, replica mode).
TOKEN=$(login); curl -s -o /dev/null -w 'logout-all: HTTP %{http_code}\n' -X POST "$API/auth/logout-all" -H "Authorization: Bearer $TOKEN"
sleep $$SYNC; curl -s "$API/me" -H "Authorization: Bearer $TOKEN"; echo
# 6. Revoke from the console: the revoke function with a sample event ends alice's sessions.
TOKEN=$(login); curl -s "$API/me" -H "Authorization: Bearer $TOKEN"; echo
$$INVOKE revoke events/revoke-user.json
sleep $$SYNC; curl -s "$API/me" -H "Authorization: Bearer $TOKEN"; echo
# --->8---
`

// listen holds one of scripts/dev's own ports from the start, before any work, so
// that a busy port is reported at once. The default port, when busy, gives
// way to a free one (the banner says which); a port given with --port is
// a demand.
func listen(what, flagName string, port int, explicit bool, say func(string, ...any)) (net.Listener, error) {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err == nil || port == 0 {
		return ln, err
	}
	if explicit {
		return nil, fmt.Errorf("--%s %d: the port is in use by another program (%v): stop it, or choose another port (--%s 0: any free port)", flagName, port, err, flagName)
	}
	say("port %d for %s is in use by another program: using a free port instead (--%s to choose one)", port, what, flagName)
	return net.Listen("tcp", "127.0.0.1:0")
}

// choosePort checks a server's port before anything starts (local-kms
// panics instead of reporting a busy port). A busy default port gives way
// to a free one; a port given on the command line is refused with a
// message.
func choosePort(server, flagName, host string, port int, explicit bool, say func(string, ...any)) (int, error) {
	err := localaws.CheckPort(server, host, port)
	if err == nil {
		return port, nil
	}
	if explicit {
		return 0, fmt.Errorf("--%s %d: %w", flagName, port, err)
	}
	say("port %d for %s is in use by another program: using a free port instead (printed below; --%s to choose one; infra/env.json for sam local expects %d)", port, server, flagName, port)
	return 0, nil
}
