// Package localaws runs the local stand-ins for AWS on a laptop or in CI:
// local-kms (KMS) and AWS's DynamoDB Local, on free ports or given ones, with their data in a folder that survives a restart or in a temp
// folder; and it creates what a deploy would: the signing key, the tables
// of template.yaml (read from the template, never typed by hand) and users.
// scripts/test, scripts/local-servers and scripts/bench (through the
// localservers command), scripts/dev and the tests (scripts/testenv) all
// use it.
package localaws

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/authkit/lambda-auth/scripts/localapi"
)

// Region and Account are those of every local resource.
const (
	Region  = "us-east-1"
	Account = "000000000000"
)

// Config says how to run the servers.
type Config struct {
	Root string // the repository: .local/bin/local-kms and .local/dynamodb-local

	// DataDir keeps the servers' data (DataDir/kms, DataDir/dynamodb), so
	// keys and tables survive a restart. Empty: a new temp folder that Stop
	// deletes, and DynamoDB Local keeps its tables in memory.
	DataDir string
	LogDir  string // the servers' logs; default DataDir or the temp folder

	// The ports. Both servers listen on every interface: neither has an
	// address setting (DynamoDB Local 1.25.1's options are -port, -inMemory,
	// -dbPath, -sharedDb, -cors, -delayTransientStatuses,
	// -optimizeDbBeforeStartup, -disableTelemetry; its Jetty binds 0.0.0.0).
	KMSPort      int // 0: a port the OS chooses
	DynamoDBPort int // 0: a free port below the ephemeral range, chosen here

	// Timeout is how long each server may take to listen and to answer;
	// default 120s: DynamoDB Local's JVM needs 3-5 s of CPU to start, which
	// took 20-55 s of wall time here on 2 cores at load 20-25.
	Timeout time.Duration

	// Logf reports what happens (a server killed after SIGTERM); nil: silent.
	Logf func(format string, args ...any)

	// KMSReady, when set, is waited for once DynamoDB Local has been
	// spawned and before local-kms is looked for: scripts/dev builds
	// local-kms meanwhile, so that the JVM's start (seconds of CPU)
	// overlaps the build instead of following it. An error stops
	// DynamoDB Local and is Start's.
	KMSReady func(context.Context) error
}

// Servers are the running local-kms and DynamoDB Local.
type Servers struct {
	KMSURL      string // http://127.0.0.1:<port>
	DynamoDBURL string // http://127.0.0.1:<port>
	Dir         string // the data folder (the temp folder when Config.DataDir is empty)

	cfg      Config
	temp     bool
	list     []*server
	watchdog *watchdog
	exited   chan error
	stopOnce sync.Once
}

// server is one stand-in: its process group and its log.
type server struct {
	name string // local-kms, dynamodb-local
	log  string
	proc *localapi.Process
}

// PortInUseError is a fixed port that another program holds. Start
// returns it before it starts anything.
type PortInUseError struct {
	Server string // local KMS, local DynamoDB
	Port   int
	Err    error
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("port %d for %s is in use by another program (%v): stop it or choose another port (0: any free port)", e.Port, e.Server, e.Err)
}

func (e *PortInUseError) Unwrap() error { return e.Err }

// CheckPort tells whether a server could listen on host:port now (an
// empty host: every interface, as both servers listen). Port 0 is always
// free.
func CheckPort(server, host string, port int) error {
	if port == 0 {
		return nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return &PortInUseError{Server: server, Port: port, Err: err}
	}
	return ln.Close()
}

var (
	kmsListening = regexp.MustCompile(`Local KMS started on [0-9.:]*:([0-9]+)`)
	ansi         = regexp.MustCompile(`\x1b\[[0-9;]*m`)
)

// Start starts local-kms and DynamoDB Local, side by side, and returns once
// both answer an API call (not just an open port). Each runs in a process
// group of its own, which Stop ends as a whole; if this process dies
// without calling Stop (SIGKILL), a watchdog ends them and deletes the temp
// folder. A fixed port that is taken is a *PortInUseError, before anything
// starts. Any other failure comes with the end of every server's log.
func Start(ctx context.Context, cfg Config) (*Servers, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 120 * time.Second
	}
	var kmsBin string
	var err error
	if cfg.KMSReady == nil { // else once it is ready
		if kmsBin, err = ToolPath(cfg.Root, "local-kms"); err != nil {
			return nil, err
		}
	}
	emulator := filepath.Join(cfg.Root, ".local", "dynamodb-local")
	if _, err := os.Stat(filepath.Join(emulator, "DynamoDBLocal.jar")); err != nil {
		return nil, errors.New("DynamoDB Local is not installed: run scripts/install-tools")
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, errors.New("java is needed for DynamoDB Local but is not installed (or not on PATH): run scripts/install-tools")
	}
	// Neither server has an address setting: both listen on every interface.
	if err := CheckPort("local KMS", "", cfg.KMSPort); err != nil {
		return nil, err
	}
	if err := CheckPort("local DynamoDB", "", cfg.DynamoDBPort); err != nil {
		return nil, err
	}
	dynPort := cfg.DynamoDBPort
	if dynPort == 0 {
		if dynPort, err = freePort(); err != nil {
			return nil, err
		}
	}

	s := &Servers{cfg: cfg, Dir: cfg.DataDir, exited: make(chan error, 2)}
	if s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "lambda-auth-servers."); err != nil {
			return nil, err
		}
		s.temp = true
	}
	logDir := cfg.LogDir
	if logDir == "" {
		logDir = s.Dir
	}
	for _, d := range []string{logDir, filepath.Join(s.Dir, "kms")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			s.Stop()
			return nil, err
		}
	}

	kmsCmd := func() *exec.Cmd {
		kms := exec.Command(kmsBin)
		// PORT=0: the OS picks the port and local-kms logs it. The seed file
		// does not exist: no keys but those created through the API.
		kms.Env = append(os.Environ(), "PORT="+strconv.Itoa(cfg.KMSPort), "KMS_REGION="+Region,
			"KMS_ACCOUNT_ID="+Account, "KMS_DATA_PATH="+filepath.Join(s.Dir, "kms"),
			"KMS_SEED_PATH="+filepath.Join(s.Dir, "no-seed.yaml"))
		return kms
	}
	dbDir := ""
	if cfg.DataDir != "" {
		dbDir = filepath.Join(s.Dir, "dynamodb")
		if err := os.MkdirAll(dbDir, 0o700); err != nil {
			s.Stop()
			return nil, err
		}
	}
	// DynamoDB Local first: its JVM takes the longest to answer.
	dynLog := filepath.Join(logDir, "dynamodb-local.log")
	ddb, err := s.spawn("dynamodb-local", ddbLocal(java, emulator, dbDir, dynPort), dynLog)
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("start DynamoDB Local: %w", err)
	}
	if cfg.KMSReady != nil {
		s.startWatchdog() // for the wait: DynamoDB Local alone
		if err := cfg.KMSReady(ctx); err != nil {
			s.Stop()
			return nil, err
		}
		if kmsBin, err = ToolPath(cfg.Root, "local-kms"); err != nil {
			s.Stop()
			return nil, err
		}
		// Again: the wait may have been long enough for another program to take it.
		if err := CheckPort("local KMS", "", cfg.KMSPort); err != nil {
			s.Stop()
			return nil, err
		}
		s.watchdog.stop() // a new one follows, for both servers
	}
	kmsSrv, err := s.spawn("local-kms", kmsCmd(), filepath.Join(logDir, "local-kms.log"))
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("start local-kms: %w", err)
	}
	s.startWatchdog()

	fail := func(err error) (*Servers, error) {
		err = fmt.Errorf("%w\n%s", err, s.Tails(15))
		s.Stop()
		return nil, err
	}
	port, err := kmsSrv.waitListening(ctx, kmsListening, cfg.Timeout)
	if err == nil {
		s.KMSURL = "http://127.0.0.1:" + port
		err = kmsSrv.waitAnswering(ctx, s.KMSURL, "TrentService.ListKeys", "application/x-amz-json-1.1", cfg.Timeout)
	}
	if err != nil {
		return fail(err)
	}
	// DynamoDB Local prints no line once it listens, and when the port is
	// taken it neither says so nor exits: it is ready when ListTables
	// answers on its port from its own process. A port chosen here that
	// another program took meanwhile is chosen again (3 tries).
	for try := 1; ; try++ {
		s.DynamoDBURL = "http://127.0.0.1:" + strconv.Itoa(dynPort)
		err := ddb.waitAnswering(ctx, s.DynamoDBURL, "DynamoDB_20120810.ListTables", "application/x-amz-json-1.0", cfg.Timeout)
		if err == nil {
			err = ddb.owns(dynPort)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, errNotOurs) || cfg.DynamoDBPort != 0 || try == 3 {
			return fail(err)
		}
		if cfg.Logf != nil {
			cfg.Logf("%v: trying another port", err)
		}
		s.watchdog.stop()
		ddb.proc.Signal(syscall.SIGKILL)
		<-ddb.proc.Done()
		s.list = slices.DeleteFunc(s.list, func(srv *server) bool { return srv == ddb })
		if dynPort, err = freePort(); err == nil {
			ddb, err = s.spawn("dynamodb-local", ddbLocal(java, emulator, dbDir, dynPort), dynLog)
		}
		if err != nil {
			s.startWatchdog()
			return fail(fmt.Errorf("start DynamoDB Local: %w", err))
		}
		s.startWatchdog()
	}
	for _, srv := range s.list {
		go func() {
			<-srv.proc.Done()
			s.exited <- fmt.Errorf("%s exited: %v (log: %s)", srv.name, srv.proc.Err(), srv.log)
		}()
	}
	return s, nil
}

// ddbLocal is the command that runs DynamoDB Local from the folder
// emulator on port: in memory, or in dbDir when it is not empty.
// -sharedDb: one database whatever the access key and region (without
// it, DynamoDB Local keeps one per key and region, and a client with
// other dummy credentials would see none of the tables). No telemetry.
// The JVM compiles with C1 only and collects with the serial collector:
// measured here (2 cores, load about 24), its CPU to start fell from 8.2 s
// to 4.6 s and over 30 rounds of 5 CreateTable and 60 PutItem and GetItem
// from 11.6 s to 7.1 s; the serial collector alone saved nothing.
func ddbLocal(java, emulator, dbDir string, port int) *exec.Cmd {
	args := []string{"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
		"-Djava.library.path=" + filepath.Join(emulator, "DynamoDBLocal_lib"),
		"-jar", filepath.Join(emulator, "DynamoDBLocal.jar"),
		"-port", strconv.Itoa(port), "-sharedDb", "-disableTelemetry"}
	if dbDir == "" {
		args = append(args, "-inMemory")
	} else {
		args = append(args, "-dbPath", dbDir)
	}
	cmd := exec.Command(java, args...)
	// Its working folder: it writes dynamodb-local-metadata.json there.
	cmd.Dir = emulator
	return cmd
}

// freePort is a port no program listens on, on any interface, below the
// range the OS hands out for outgoing connections (so that no client's
// source port takes it between the choice and DynamoDB Local's bind).
func freePort() (int, error) {
	lowest := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		fmt.Sscan(string(b), &lowest)
	}
	if lowest <= 10000 {
		lowest = 65536 // an unusual range: anywhere above 10000
	}
	for range 100 {
		p := 10000 + mrand.IntN(lowest-10000)
		if CheckPort("local DynamoDB", "", p) == nil {
			return p, nil
		}
	}
	return 0, errors.New("no free port for DynamoDB Local between 10000 and the ephemeral range")
}

var errNotOurs = errors.New("another program listens on the port")

// owns checks that the program listening on port is srv (its process
// group leader), not another that took the port first. Only on Linux
// (ListenerPID reads /proc); elsewhere it trusts the answer.
func (srv *server) owns(port int) error {
	if runtime.GOOS != "linux" {
		return nil
	}
	pid, err := ListenerPID(port)
	if err != nil {
		return fmt.Errorf("%s on port %d: %w", srv.name, port, err)
	}
	if pid != srv.proc.Pid() {
		return fmt.Errorf("%s on port %d: process %d answers, not %d: %w", srv.name, port, pid, srv.proc.Pid(), errNotOurs)
	}
	return nil
}

// startWatchdog starts the watchdog of the servers in s.list.
func (s *Servers) startWatchdog() {
	var err error
	if s.watchdog, err = startWatchdog(s); err != nil && s.cfg.Logf != nil {
		s.cfg.Logf("no watchdog (%v): if this process is killed with SIGKILL, stop the servers by hand", err)
	}
}

func (s *Servers) spawn(name string, cmd *exec.Cmd, logPath string) (*server, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own copy
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = f, f
	p, err := localapi.Spawn(cmd)
	if err != nil {
		return nil, err
	}
	srv := &server{name: name, log: logPath, proc: p}
	s.list = append(s.list, srv)
	return srv, nil
}

// waitListening waits for the log line that names the port the server
// listens on.
func (srv *server) waitListening(ctx context.Context, re *regexp.Regexp, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile(srv.log); err == nil {
			if m := re.FindSubmatch(ansi.ReplaceAll(b, nil)); m != nil {
				return string(m[1]), nil
			}
		}
		switch err := srv.pause(ctx, deadline); {
		case errors.Is(err, errExited):
			return "", fmt.Errorf("%s exited before it was listening: %v", srv.name, srv.proc.Err())
		case errors.Is(err, errTimeout):
			return "", fmt.Errorf("%s did not start listening within %s", srv.name, timeout)
		case err != nil:
			return "", err
		}
	}
}

// waitAnswering waits until an AWS JSON call to the server answers 200: a
// real answer of its API, not just an open port. The stand-ins check only
// the shape of the signature.
func (srv *server) waitAnswering(ctx context.Context, url, target, ctype string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := "none"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/", strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("X-Amz-Date", "20200101T000000Z")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20200101/"+Region+"/local/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
		if resp, err := probeClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = strconv.Itoa(resp.StatusCode)
		}
		switch err := srv.pause(ctx, deadline); {
		case errors.Is(err, errExited):
			return fmt.Errorf("%s exited before it answered: %v", srv.name, srv.proc.Err())
		case errors.Is(err, errTimeout):
			return fmt.Errorf("%s did not answer %s at %s within %s (last HTTP status: %s)", srv.name, target, url, timeout, last)
		case err != nil:
			return err
		}
	}
}

var (
	errExited  = errors.New("exited")
	errTimeout = errors.New("timed out")
)

// pause waits a moment, unless the server exited (errExited), ctx ended
// (its error) or deadline passed (errTimeout).
func (srv *server) pause(ctx context.Context, deadline time.Time) error {
	select {
	case <-srv.proc.Done():
		return errExited
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(20 * time.Millisecond):
	}
	if time.Now().After(deadline) {
		return errTimeout
	}
	return nil
}

var probeClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}

// Exited receives an error when a server exits by itself.
func (s *Servers) Exited() <-chan error { return s.exited }

// Tails is the end of every server's log (n lines each), colours removed,
// for a failure message.
func (s *Servers) Tails(n int) string {
	var b strings.Builder
	for _, srv := range s.list {
		data, err := os.ReadFile(srv.log)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(ansi.ReplaceAllString(string(data), ""), "\n"), "\n")
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		fmt.Fprintf(&b, "----- last lines of %s log (%s) -----\n%s\n----- end of %s log -----\n",
			srv.name, srv.log, strings.Join(lines, "\n"), srv.name)
	}
	return b.String()
}

// Stop ends both servers: SIGTERM to each process group, SIGKILL to those
// still there after 5 s. Then it deletes the temp folder, if any. Safe to
// call more than once.
func (s *Servers) Stop() {
	s.stopOnce.Do(func() {
		s.watchdog.stop() // first: it must not signal process groups reaped below
		for _, srv := range s.list {
			srv.proc.Signal(syscall.SIGTERM)
		}
		deadline := time.After(5 * time.Second)
		killed := false
		for _, srv := range s.list {
			select {
			case <-srv.proc.Done():
			case <-deadline:
				if !killed && s.cfg.Logf != nil {
					s.cfg.Logf("servers did not stop on SIGTERM within 5s, killing them")
				}
				killed = true
				for _, other := range s.list {
					other.proc.Signal(syscall.SIGKILL)
				}
				<-srv.proc.Done()
			}
		}
		if s.temp {
			os.RemoveAll(s.Dir)
		}
	})
}

// ToolPath finds a tool scripts/install-tools installs: root/.local/bin
// first, then PATH.
func ToolPath(root, name string) (string, error) {
	p := filepath.Join(root, ".local", "bin", name)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s is not installed: run scripts/install-tools", name)
}

// RepoRoot is the repository: $LAMBDA_AUTH_ROOT (set by the scripts, which
// run from any folder), else FindRoot of the working directory.
func RepoRoot() (string, error) {
	if root := os.Getenv("LAMBDA_AUTH_ROOT"); root != "" {
		return root, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return FindRoot(dir)
}

// FindRoot is the folder holding go.mod and template.yaml, from dir up.
func FindRoot(dir string) (string, error) {
	for d := dir; ; {
		if isFile(filepath.Join(d, "go.mod")) && isFile(filepath.Join(d, "template.yaml")) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod and template.yaml above %s: run from the repository", dir)
		}
		d = parent
	}
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
