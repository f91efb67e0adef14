// Command localservers starts the local stand-ins for AWS (local-kms and
// AWS's DynamoDB Local, scripts/localaws) on free ports, runs a command
// against them, and stops them however it ends. scripts/local-servers,
// scripts/test and scripts/bench run it; scripts/install-tools installs it
// as .local/bin/localservers.
//
//	localservers                      print the environment to use them from
//	                                  another shell, and wait for Ctrl-C
//	localservers -- CMD [ARG...]      run CMD with that environment, then stop
//	                                  them; exit with CMD's status
//
// The command's environment: AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL_DYNAMODB,
// AWS_REGION and AWS_DEFAULT_REGION, dummy credentials, no AWS config or
// credentials file, and none of the caller's profile, session token,
// endpoints or AWS_CA_BUNDLE (localaws.Masked): nothing reaches real AWS.
// .local/bin comes first on its PATH.
//
// Both servers are empty at start and forget everything when stopped;
// each runs in a process group of its own, and a watchdog stops them if
// this command is killed with SIGKILL. On a failure (a non-zero exit not
// caused by SIGINT, SIGTERM or SIGHUP) the end of each server's log is
// printed. A signal ends it with 128 + its number (Ctrl-C: 130), after
// passing it on to the command.
//
// Settings: LOCAL_SERVERS_TIMEOUT (seconds each server may take to listen
// and to answer, default 120: DynamoDB Local's JVM takes 2-3 s of CPU to
// start, a minute of wall time on a 2-core machine at load 20); LAMBDA_AUTH_ROOT (the repository, default:
// found from the working directory).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/authkit/lambda-auth/scripts/localaws"
)

const usage = "usage: scripts/local-servers [-- command [args...]]"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	say := func(format string, a ...any) { fmt.Fprintf(stderr, "local-servers: "+format+"\n", a...) }
	var command []string
	switch {
	case len(args) == 0:
	case args[0] == "--":
		command = args[1:]
		if len(command) == 0 {
			fmt.Fprintln(stderr, usage)
			return 2
		}
	case args[0] == "-h" || args[0] == "--help":
		fmt.Fprintln(stdout, usage)
		return 0
	default:
		fmt.Fprintln(stderr, usage)
		return 2
	}
	timeout := 120 * time.Second
	if v := os.Getenv("LOCAL_SERVERS_TIMEOUT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			say("LOCAL_SERVERS_TIMEOUT=%q: want a number of seconds", v)
			return 2
		}
		timeout = time.Duration(n) * time.Second
	}
	root, err := localaws.RepoRoot()
	if err != nil {
		say("%v", err)
		return 1
	}

	// From now on a signal ends the run: the servers are stopped, whatever
	// stage it is in.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	whileStarting := make(chan os.Signal, 1)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case sig := <-sigs:
			whileStarting <- sig
			cancel()
		case <-ctx.Done():
		}
	}()
	t0 := time.Now()
	s, err := localaws.Start(ctx, localaws.Config{Root: root, Timeout: timeout, Logf: say})
	cancel()
	<-watched
	select {
	case sig := <-whileStarting:
		if s != nil {
			s.Stop()
		}
		return exitStatus(sig)
	default:
	}
	if err != nil {
		say("%v", err)
		return 1
	}
	say("KMS at %s, DynamoDB at %s (ready in %.1fs, logs in %s)", s.KMSURL, s.DynamoDBURL, time.Since(t0).Seconds(), s.Dir)

	var status int
	if command != nil {
		status = runCommand(command, childEnv(root, s), sigs, say)
	} else {
		fmt.Fprint(stdout, "# The servers run until Ctrl-C. To use them from another shell:\n"+localaws.Exports(s.KMSURL, s.DynamoDBURL))
		select {
		case sig := <-sigs:
			status = exitStatus(sig)
		case err := <-s.Exited():
			say("%v", err)
			status = 1
		}
	}
	if failed(status) {
		fmt.Fprint(stderr, s.Tails(15))
	}
	s.Stop()
	return status
}

// runCommand runs the command in this process group (a Ctrl-C in the
// terminal reaches it directly) and passes on the signals this process
// receives. A signal received makes the status 128 + its number, as the
// shell's traps did.
func runCommand(command, env []string, sigs <-chan os.Signal, say func(string, ...any)) int {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Path, cmd.Err = lookPath(command[0], env)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		say("%v", err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return 127
		}
		return 126
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var got os.Signal
	for {
		select {
		case sig := <-sigs:
			got = sig
			cmd.Process.Signal(sig)
		case <-done:
			if got != nil {
				return exitStatus(got)
			}
			ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if ws.Signaled() {
				return 128 + int(ws.Signal())
			}
			return cmd.ProcessState.ExitCode()
		}
	}
}

// lookPath finds the command on the PATH of its environment (.local/bin
// first), not on this process's.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, e := range env {
		if path, ok := strings.CutPrefix(e, "PATH="); ok {
			for _, dir := range filepath.SplitList(path) {
				p := filepath.Join(dir, name)
				if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
					return p, nil
				}
			}
		}
	}
	return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
}

// childEnv is this process's environment pointed at the servers, with
// .local/bin first on PATH and without LAMBDA_AUTH_ROOT (a command finds
// its own repository).
func childEnv(root string, s *localaws.Servers) []string {
	var env []string
	for _, e := range localaws.Environ(os.Environ(), s.KMSURL, s.DynamoDBURL) {
		switch k, v, _ := strings.Cut(e, "="); k {
		case "LAMBDA_AUTH_ROOT":
		case "PATH":
			env = append(env, "PATH="+filepath.Join(root, ".local", "bin")+string(filepath.ListSeparator)+v)
		default:
			env = append(env, e)
		}
	}
	return env
}

func exitStatus(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

// failed: a non-zero status not caused by SIGHUP (129), SIGINT (130) or
// SIGTERM (143), which are no failure of the servers.
func failed(status int) bool {
	return status != 0 && status != 129 && status != 130 && status != 143
}
