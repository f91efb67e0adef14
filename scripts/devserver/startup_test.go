package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/authkit/lambda-auth/scripts/localaws"
)

// script runs scripts/NAME with args and returns its exit status and its
// output (stdout and stderr).
func script(t *testing.T, name string, args ...string) (int, string) {
	t.Helper()
	root, err := localaws.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "scripts", name), args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// nothingStarted: the state folder holds at most scripts/dev's lock.
func nothingStarted(t *testing.T, state string) {
	t.Helper()
	entries, _ := os.ReadDir(state)
	for _, e := range entries {
		if e.Name() != lockName {
			t.Errorf("something started: %s is in the state folder", e.Name())
		}
	}
}

// TestHelpComesFirst: --help or -h anywhere prints the usage at once,
// before any install or build (install-tools says what it checks).
func TestHelpComesFirst(t *testing.T) {
	for _, c := range []struct {
		script string
		args   []string
		usage  string
	}{
		{"dev", []string{"--port", "3000", "--help"}, "Runs the whole HTTP API locally"},
		{"dev", []string{"--param", "AccessTokenTTL=2m", "-h"}, "Runs the whole HTTP API locally"},
		{"dev", []string{"--reset", "-help"}, "Runs the whole HTTP API locally"},
		{"invoke", []string{"revoke", "events/revoke-user.json", "--help"}, "sam local invoke"},
		{"rotate-key", []string{"--publish-wait", "1s", "--help"}, "Rehearses the key rotation runbook"},
	} {
		t.Run(strings.Join(append([]string{c.script}, c.args...), " "), func(t *testing.T) {
			code, out := script(t, c.script, c.args...)
			if code != 0 || !strings.Contains(out, c.usage) {
				t.Errorf("exit %d, want 0 and the usage:\n%s", code, out)
			}
			if regexp.MustCompile(`(?m)^install-tools: `).MatchString(out) {
				t.Errorf("install-tools ran before the usage:\n%s", out)
			}
		})
	}
}

// TestBadParamRefusedFirst: a --param value the template's constraints
// refuse is reported in their words, before anything starts (it used to
// surface as emulator noise from every function).
func TestBadParamRefusedFirst(t *testing.T) {
	state := t.TempDir()
	code, out := script(t, "dev", "--state", state, "--port", "0", "--kms-port", "0", "--dynamodb-port", "0",
		"--param", "AccessTokenTTL=forever", "--param", "SigningKeySpec=RSA_1024", "--param", "NoSuchParameter=1")
	if code == 0 {
		t.Fatalf("scripts/dev accepted bad parameters:\n%s", out)
	}
	for _, want := range []string{
		`AccessTokenTTL="forever" failed to satisfy constraint: must be a Go duration such as 15m or 900s`,
		`SigningKeySpec="RSA_1024" must be one of ECC_NIST_P256,`,
		"template.yaml has no parameter NoSuchParameter",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	nothingStarted(t, state)
}

// TestBusyPortRefusedFirst: a port given as an option that another
// program holds is refused with a message before anything starts (local
// KMS used to panic on it, and the API's port was found busy only after
// the servers, key, tables, build and every function were up).
func TestBusyPortRefusedFirst(t *testing.T) {
	for _, c := range []struct {
		flag, addr, want string
	}{
		{"--kms-port", ":0", "for local KMS is in use by another program"},
		{"--kms-port", "127.0.0.1:0", "for local KMS is in use by another program"},
		{"--dynamodb-port", "127.0.0.1:0", "for local DynamoDB is in use by another program"},
		{"--port", "127.0.0.1:0", "the port is in use by another program"},
	} {
		t.Run(c.flag+" "+c.addr, func(t *testing.T) {
			ln, err := net.Listen("tcp", c.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
			args := map[string]string{"--port": "0", "--kms-port": "0", "--dynamodb-port": "0"}
			args[c.flag] = port
			state := t.TempDir()
			code, out := script(t, "dev", "--state", state, "--port", args["--port"], "--kms-port", args["--kms-port"],
				"--dynamodb-port", args["--dynamodb-port"])
			if code == 0 || !strings.Contains(out, c.flag+" "+port) || !strings.Contains(out, c.want) {
				t.Errorf("exit %d, want a refusal naming %s %s (%s):\n%s", code, c.flag, port, c.want, out)
			}
			if strings.Contains(out, "panic") {
				t.Errorf("a panic instead of a message:\n%s", out)
			}
			nothingStarted(t, state)
		})
	}
}

// TestBusyDefaultPortGivesWay: a default port another program holds gives
// way to a free one, and the user is told; given as an option, it is an
// error.
func TestBusyDefaultPortGivesWay(t *testing.T) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	var said []string
	say := func(format string, a ...any) { said = append(said, strings.TrimSpace(fmt.Sprintf(format, a...))) }

	port, err := choosePort("local KMS", "kms-port", "", busy, false, say)
	if err != nil || port != 0 {
		t.Errorf("a busy default KMS port: %d %v, want 0 (a free port)", port, err)
	}
	if len(said) != 1 || !strings.Contains(said[0], strconv.Itoa(busy)) || !strings.Contains(said[0], "using a free port instead") {
		t.Errorf("what the user is told: %q", said)
	}
	if _, err := choosePort("local KMS", "kms-port", "", busy, true, say); err == nil || !strings.Contains(err.Error(), "--kms-port "+strconv.Itoa(busy)) {
		t.Errorf("a busy --kms-port: %v, want an error naming it", err)
	}
	if port, err := choosePort("local KMS", "kms-port", "", 0, true, say); err != nil || port != 0 {
		t.Errorf("port 0: %d %v", port, err)
	}

	said = nil
	api, err := listen("the local API", "port", busy, false, say)
	if err != nil {
		t.Fatalf("a busy default API port: %v", err)
	}
	defer api.Close()
	if got := api.Addr().(*net.TCPAddr).Port; got == busy || got == 0 {
		t.Errorf("the API listens on %d, want another port than %d", got, busy)
	}
	if len(said) != 1 || !strings.Contains(said[0], "for the local API is in use") {
		t.Errorf("what the user is told: %q", said)
	}
	if ln, err := listen("the local API", "port", busy, true, say); err == nil {
		ln.Close()
		t.Error("a busy --port was accepted")
	} else if !strings.Contains(err.Error(), "--port "+strconv.Itoa(busy)) {
		t.Errorf("a busy --port: %v, want an error naming it", err)
	}
	if ln, err := listen("the local Lambda Invoke API", "lambda-port", busy, true, say); err == nil {
		ln.Close()
		t.Error("a busy --lambda-port was accepted")
	} else if !strings.Contains(err.Error(), "--lambda-port "+strconv.Itoa(busy)) {
		t.Errorf("a busy --lambda-port: %v, want an error naming it", err)
	}
}
