package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// rieFunction is one bootstrap running under aws-lambda-rie.
type rieFunction struct {
	cmd  *exec.Cmd
	url  string
	logs bytes.Buffer
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startRIE runs dir/bootstrap under aws-lambda-rie, each with its own
// emulator and runtime API addresses, with env added to the environment
// (AWS_CA_BUNDLE left out: a Lambda has none).
func startRIE(ctx context.Context, dir string, env []string) (*rieFunction, error) {
	rie, err := exec.LookPath("aws-lambda-rie")
	if err != nil {
		return nil, fmt.Errorf("aws-lambda-rie not on PATH (scripts/install-tools installs it): %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	api, err := freeAddr()
	if err != nil {
		return nil, err
	}
	f := &rieFunction{url: "http://" + addr + "/2015-03-31/functions/function/invocations"}
	f.cmd = exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", api, "./bootstrap")
	f.cmd.Dir = dir
	f.cmd.Env = benchEnv(append([]string{"AWS_LAMBDA_FUNCTION_TIMEOUT=10", "AWS_LAMBDA_LOG_FORMAT=JSON"}, env...)...)
	f.cmd.Stdout, f.cmd.Stderr = &f.logs, &f.logs
	f.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := f.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return f, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			f.stop()
			return nil, fmt.Errorf("%s: emulator not listening; output:\n%s", filepath.Base(dir), f.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *rieFunction) stop() {
	if f.cmd.Process != nil {
		syscall.Kill(-f.cmd.Process.Pid, syscall.SIGKILL)
		f.cmd.Wait()
	}
}

var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4, Proxy: nil}}

// invoke posts one event and returns the response body.
func (f *rieFunction) invoke(ctx context.Context, event []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(event))
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func readEvent(o *options, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(o.root, "events", name+".json"))
}
