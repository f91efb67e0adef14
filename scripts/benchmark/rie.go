package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/authkit/lambda-auth/scripts/localapi"
)

// rieFunction is one bootstrap running under aws-lambda-rie, started as
// scripts/dev starts it (scripts/localapi).
type rieFunction struct {
	*localapi.Lambda
	logs bytes.Buffer
}

// startRIE runs dir/bootstrap under aws-lambda-rie on its own loopback
// ports, with env and the local endpoints, region and credentials of this
// process (set by scripts/bench), and nothing else of its environment.
func startRIE(ctx context.Context, dir string, env []string) (*rieFunction, error) {
	rie, err := exec.LookPath("aws-lambda-rie")
	if err != nil {
		return nil, fmt.Errorf("aws-lambda-rie not on PATH (scripts/install-tools installs it): %w", err)
	}
	vars := map[string]string{}
	for _, k := range []string{"AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_REGION", "AWS_DEFAULT_REGION",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		vars[k] = os.Getenv(k)
	}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	f := &rieFunction{}
	fn := &localapi.Function{ID: filepath.Base(dir), Folder: filepath.Base(dir), Timeout: 10, LogFormat: "JSON"}
	f.Lambda, err = localapi.StartLambda(ctx, localapi.LambdaConfig{
		RIE: rie, Bootstrap: filepath.Join(dir, "bootstrap"), Function: fn, Env: vars, Output: &syncWriter{w: &f.logs},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.ID, err)
	}
	return f, nil
}

func (f *rieFunction) stop() { f.Stop() }

// syncWriter serialises the emulator's and the function's writes.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4, Proxy: nil}}

// invoke runs one invocation and returns the function's response.
func (f *rieFunction) invoke(ctx context.Context, event []byte) ([]byte, error) {
	return f.Invoke(ctx, event)
}

func readEvent(o *options, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(o.root, "events", name+".json"))
}
