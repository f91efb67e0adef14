package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/authkit/lambda-auth/scripts/testenv"
)

// TestHelperCommand is not a test: it is the command the tests below run
// under localservers (the test binary again, with LOCALSERVERS_HELPER set).
// It prints its AWS environment and calls both servers through the SDK's
// default configuration, as tests and scripts do, then exits 7.
func TestHelperCommand(t *testing.T) {
	if os.Getenv("LOCALSERVERS_HELPER") != "1" {
		return
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "LAMBDA_AUTH_ROOT=") {
			fmt.Println("env:", kv)
		}
	}
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Println("config:", err)
		os.Exit(1)
	}
	if _, err := dynamodb.NewFromConfig(cfg).ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		fmt.Println("dynamodb:", err)
		os.Exit(1)
	}
	if _, err := kms.NewFromConfig(cfg).ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		fmt.Println("kms:", err)
		os.Exit(1)
	}
	fmt.Println("both servers answered")
	os.Exit(7)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the command once for all tests.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "localservers-test-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "localservers")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// session is one localservers run, its stderr read line by line as it comes.
type session struct {
	cmd    *exec.Cmd
	stdout *testenv.LogBuffer
	stderr *testenv.LogBuffer
	done   chan struct{}
}

func startRun(t *testing.T, env []string, args ...string) *session {
	t.Helper()
	r := &session{stdout: &testenv.LogBuffer{}, stderr: &testenv.LogBuffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(binary(t), args...)
	r.cmd.Env = append(append(os.Environ(), "LAMBDA_AUTH_ROOT="+testenv.RepoRoot(t)), env...)
	r.cmd.Stdout, r.cmd.Stderr = r.stdout, r.stderr
	// A group of its own, so that the test can end what is left of it; and
	// no wait for output a command orphaned by a SIGKILL still holds.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r.cmd.WaitDelay = time.Second
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.done
	})
	return r
}

var readyLine = regexp.MustCompile(`KMS at (http://\S+), DynamoDB at (http://\S+) \(ready in .*, logs in (\S+)\)`)

// ready waits for the line saying both servers answer, and returns their
// addresses and the temp folder.
func (r *session) ready(t *testing.T) (kmsAddr, dynamoAddr, dir string) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		if m := readyLine.FindStringSubmatch(r.stderr.String()); m != nil {
			return strings.TrimPrefix(m[1], "http://"), strings.TrimPrefix(m[2], "http://"), m[3]
		}
		select {
		case <-r.done:
			if m := readyLine.FindStringSubmatch(r.stderr.String()); m != nil {
				continue // it was ready, and is done already
			}
			t.Fatalf("localservers ended before it was ready:\n%s", r.stderr)
		case <-deadline:
			t.Fatalf("localservers not ready after 60s:\n%s", r.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// exit waits for the end and returns the exit status.
func (r *session) exit(t *testing.T) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("localservers did not end within 30s:\n%s", r.stderr)
	}
	return r.cmd.ProcessState.ExitCode()
}

// gone checks that the servers' ports no longer answer and the temp
// folder is deleted, within a few seconds.
func gone(t *testing.T, dir string, addrs ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []string
		for _, a := range addrs {
			if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
				c.Close()
				left = append(left, a+" answers")
			}
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			left = append(left, dir+" exists")
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the end: %s", strings.Join(left, ", "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCommandAgainstTheServers: the command reaches both servers through
// the SDK's default configuration while the caller's own AWS setup (a
// profile that exists nowhere, a CA bundle that is not there, another
// endpoint, a session token) takes no part; .local/bin is first on its
// PATH. Its exit status is localservers'; a failure shows the servers'
// logs; the servers and their folder are gone afterwards.
func TestCommandAgainstTheServers(t *testing.T) {
	root := testenv.RepoRoot(t)
	r := startRun(t, []string{"LOCALSERVERS_HELPER=1", "AWS_PROFILE=nobody-here", "AWS_CA_BUNDLE=/nonexistent/bundle.pem",
		"AWS_ENDPOINT_URL=http://127.0.0.1:1", "AWS_SESSION_TOKEN=leaked", "AWS_CONFIG_FILE=/nonexistent/config"},
		"--", os.Args[0], "-test.run=^TestHelperCommand$")
	kmsAddr, dynamoAddr, dir := r.ready(t)
	if code := r.exit(t); code != 7 {
		t.Fatalf("exit status %d, want the command's 7\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
	}
	out := r.stdout.String()
	for _, want := range []string{"both servers answered", "env: AWS_ENDPOINT_URL_KMS=http://" + kmsAddr + "\n",
		"env: AWS_ENDPOINT_URL_DYNAMODB=http://" + dynamoAddr + "\n", "env: AWS_REGION=us-east-1\n",
		"env: AWS_CONFIG_FILE=" + os.DevNull + "\n", "env: PATH=" + filepath.Join(root, ".local", "bin") + ":"} {
		if !strings.Contains(out, want) {
			t.Errorf("the command's output lacks %q:\n%s", want, out)
		}
	}
	for _, masked := range []string{"AWS_PROFILE=", "AWS_CA_BUNDLE=", "AWS_ENDPOINT_URL=", "AWS_SESSION_TOKEN=", "LAMBDA_AUTH_ROOT="} {
		if strings.Contains(out, "env: "+masked) {
			t.Errorf("the command sees %s...:\n%s", masked, out)
		}
	}
	if errOut := r.stderr.String(); !strings.Contains(errOut, "last lines of local-kms log") || !strings.Contains(errOut, "last lines of dynamodb-local log") {
		t.Errorf("a failed command (7) shows no server logs:\n%s", errOut)
	}
	gone(t, dir, kmsAddr, dynamoAddr)
}

// TestSuccessShowsNoLogs: exit 0, and no server log on stderr.
func TestSuccessShowsNoLogs(t *testing.T) {
	r := startRun(t, nil, "--", "true")
	_, _, dir := r.ready(t)
	if code := r.exit(t); code != 0 || strings.Contains(r.stderr.String(), "last lines of") {
		t.Errorf("exit %d, stderr:\n%s", code, r.stderr)
	}
	gone(t, dir)
}

// TestSignalEndsTheRun: SIGTERM to localservers alone reaches the command,
// ends the run with 143 (128 + SIGTERM) without server logs (a signal is
// no failure of theirs), and stops the servers.
func TestSignalEndsTheRun(t *testing.T) {
	r := startRun(t, nil, "--", "sleep", "60")
	kmsAddr, dynamoAddr, dir := r.ready(t)
	r.cmd.Process.Signal(syscall.SIGTERM)
	if code := r.exit(t); code != 143 {
		t.Errorf("exit status %d after SIGTERM, want 143:\n%s", code, r.stderr)
	}
	if strings.Contains(r.stderr.String(), "last lines of") {
		t.Errorf("logs printed after a signal:\n%s", r.stderr)
	}
	gone(t, dir, kmsAddr, dynamoAddr)
}

// TestWatchdogAfterSIGKILL: when localservers is killed with SIGKILL (no
// code of its runs), the watchdog stops both servers and deletes the temp
// folder.
func TestWatchdogAfterSIGKILL(t *testing.T) {
	r := startRun(t, nil, "--", "sleep", "60")
	kmsAddr, dynamoAddr, dir := r.ready(t)
	r.cmd.Process.Kill()
	<-r.done
	gone(t, dir, kmsAddr, dynamoAddr)
}

// TestNoCommand: without a command it prints the exports for another
// shell and waits; when a server exits by itself, it says so, shows the
// logs, and ends with 1.
func TestNoCommand(t *testing.T) {
	r := startRun(t, nil)
	kmsAddr, dynamoAddr, dir := r.ready(t)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(r.stdout.String(), "unset ") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	out := r.stdout.String()
	for _, want := range []string{"export AWS_ENDPOINT_URL_KMS=http://" + kmsAddr + "\n", "export AWS_ENDPOINT_URL_DYNAMODB=http://" + dynamoAddr + "\n",
		"export AWS_ACCESS_KEY_ID=test\n", "unset AWS_PROFILE "} {
		if !strings.Contains(out, want) {
			t.Errorf("exports lack %q:\n%s", want, out)
		}
	}
	pid := pidWithEnv(t, "KMS_DATA_PATH="+filepath.Join(dir, "kms"))
	syscall.Kill(pid, syscall.SIGKILL)
	if code := r.exit(t); code != 1 {
		t.Errorf("exit status %d after local-kms died, want 1:\n%s", code, r.stderr)
	}
	if errOut := r.stderr.String(); !strings.Contains(errOut, "local-kms exited") || !strings.Contains(errOut, "last lines of dynamodb-local log") {
		t.Errorf("stderr does not say local-kms exited or lacks the logs:\n%s", errOut)
	}
	gone(t, dir, dynamoAddr)
}

// pidWithEnv finds the process whose environment holds kv (/proc, Linux).
func pidWithEnv(t *testing.T, kv string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("this test reads /proc (Linux): %v", err)
	}
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, v := range strings.Split(string(b), "\x00") {
			if v == kv {
				return pid
			}
		}
	}
	t.Fatalf("no process has %s", kv)
	return 0
}

// TestArguments: usage errors are 2, help is 0, a command that does not
// exist is 127 (as in a shell), and none of them leaves a server behind.
func TestArguments(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"extra"}, 2, "usage: scripts/local-servers"},
		{[]string{"--"}, 2, "usage: scripts/local-servers"},
		{[]string{"--help"}, 0, "usage: scripts/local-servers"},
		{[]string{"--", "no-such-command-anywhere"}, 127, "no-such-command-anywhere"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out strings.Builder
			code := runWith(t, c.args, &out)
			if code != c.code || !strings.Contains(out.String(), c.want) {
				t.Errorf("exit %d, want %d; output:\n%s", code, c.code, out.String())
			}
			if m := readyLine.FindStringSubmatch(out.String()); m != nil {
				gone(t, m[3], strings.TrimPrefix(m[1], "http://"), strings.TrimPrefix(m[2], "http://"))
			}
		})
	}
}

func runWith(t *testing.T, args []string, out io.Writer) int {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), "LAMBDA_AUTH_ROOT="+testenv.RepoRoot(t))
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode()
}

// TestTimeoutSetting: LOCAL_SERVERS_TIMEOUT must be a number of seconds.
func TestTimeoutSetting(t *testing.T) {
	var out strings.Builder
	cmd := exec.Command(binary(t), "--", "true")
	cmd.Env = append(os.Environ(), "LAMBDA_AUTH_ROOT="+testenv.RepoRoot(t), "LOCAL_SERVERS_TIMEOUT=soon")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(out.String(), "LOCAL_SERVERS_TIMEOUT") {
		t.Errorf("exit %d, output:\n%s", code, out.String())
	}
}
