package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/localaws"
)

// DevStack is one scripts/dev run, as a newcomer starts it, on free ports
// and with its own state folder.
type DevStack struct {
	Cmd    *exec.Cmd
	Out    *LogBuffer // stdout: the banner, with the demo credentials
	ErrOut *LogBuffer // stderr: progress and the gateway's request log
	State  string
	Vars   map[string]string // its endpoints file
	API    string            // the local API's base URL
	// Started is when the test started scripts/dev (before the exec).
	Started time.Time
	exited  chan struct{}
}

// StartDev runs scripts/dev and waits until it has written its endpoints
// file, which it does once everything is up.
func StartDev(t testing.TB, args ...string) *DevStack {
	t.Helper()
	return StartDevOn(t, t.TempDir(), args...)
}

// StartDevOn starts scripts/dev on the state folder state.
func StartDevOn(t testing.TB, state string, args ...string) *DevStack {
	t.Helper()
	return StartDevEnv(t, state, nil, args...)
}

// StartDevEnv starts scripts/dev on the state folder state with env
// (NAME=value) added to this process's environment.
func StartDevEnv(t testing.TB, state string, env []string, args ...string) *DevStack {
	t.Helper()
	root, err := localaws.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	d := &DevStack{Out: &LogBuffer{}, ErrOut: &LogBuffer{}, State: state, exited: make(chan struct{})}
	args = append([]string{"--port", "0", "--kms-port", "0", "--dynamodb-port", "0", "--state", d.State}, args...)
	d.Cmd = exec.Command(filepath.Join(root, "scripts", "dev"), args...)
	d.Cmd.Dir = root
	d.Cmd.Stdout, d.Cmd.Stderr = d.Out, d.ErrOut
	if env != nil {
		d.Cmd.Env = append(os.Environ(), env...)
	}
	d.Started = time.Now()
	if err := d.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.Cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() { d.Stop(t) })
	envFile := filepath.Join(d.State, "endpoints.env")
	deadline := time.After(3 * time.Minute) // a cold Go build cache; warm it is seconds
	for {
		if vars, err := localaws.ReadEnvFile(envFile); err == nil {
			d.Vars, d.API = vars, vars["API_URL"]
			return d
		}
		select {
		case <-d.exited:
			t.Fatalf("scripts/dev exited before it was ready:\n%s%s", d.Out, d.ErrOut)
		case <-deadline:
			t.Fatalf("scripts/dev not ready after 3 minutes:\n%s%s", d.Out, d.ErrOut)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop is Ctrl-C: SIGINT to scripts/dev (the terminal sends it to the
// foreground process group; the runner is the script itself after exec).
func (d *DevStack) Stop(t testing.TB) {
	select {
	case <-d.exited:
		return
	default:
	}
	d.Cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		d.Cmd.Process.Kill()
		t.Errorf("scripts/dev did not stop within 20s of SIGINT:\n%s", d.ErrOut)
	}
}
