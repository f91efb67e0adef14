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
	"strconv"
	"time"
)

// A function is ready when its init is over (configuration read, AWS
// clients built, public keys fetched, the dummy password hash computed)
// and the Lambda runtime library asks the runtime API for the first event:
// GET /2018-06-01/runtime/invocation/next. Cold start here is the time from
// exec of the bootstrap to that request, measured against a minimal
// runtime API of our own (no emulator in between). For the authorizer, the
// first invocation is measured too: its event in, its response out, with
// the first DynamoDB connection in it.
type coldResult struct {
	ready       map[string][]float64 // ms
	firstInvoke []float64            // authorizer, ms
	cmd         string
}

type fakeRuntime struct {
	srv     *http.Server
	addr    string
	next    chan time.Time // the first GET .../next
	deliver chan []byte    // the event to answer the first GET .../next with
	result  chan []byte    // the body of the first response or error post
}

func startFakeRuntime() (*fakeRuntime, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &fakeRuntime{addr: l.Addr().String(), next: make(chan time.Time, 1), deliver: make(chan []byte, 1),
		result: make(chan []byte, 1)}
	first := true
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		if !first {
			<-r.Context().Done()
			return
		}
		first = false
		f.next <- time.Now()
		select {
		case ev := <-f.deliver:
			h := w.Header()
			h.Set("Lambda-Runtime-Aws-Request-Id", "bench-1")
			h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(10*time.Second).UnixMilli(), 10))
			h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:bench")
			h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
			w.Write(ev)
		case <-r.Context().Done():
		}
	})
	post := func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case f.result <- b:
		default:
		}
		w.WriteHeader(http.StatusAccepted)
	}
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", post)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", post)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", post)
	f.srv = &http.Server{Handler: mux}
	go f.srv.Serve(l)
	return f, nil
}

func runColdStarts(ctx context.Context, o *options, r *report) error {
	stack, err := newStack(ctx, o.root)
	if err != nil {
		return err
	}
	bin := filepath.Join(o.scratch, "host")
	names, err := buildFunctions(ctx, o, bin, goarchHost())
	if err != nil {
		return err
	}
	tok, err := stack.accessToken(ctx)
	if err != nil {
		return err
	}
	ev, err := readEvent(o, "authorizer")
	if err != nil {
		return err
	}
	ev = bytes.ReplaceAll(ev, []byte("REPLACE_WITH_ACCESS_TOKEN"), []byte(tok))
	res := coldResult{ready: map[string][]float64{}}
	for run := 0; run < o.coldRuns; run++ {
		for i := range names {
			name := names[(i+run)%len(names)]
			var event []byte
			if name == "authorizer" {
				event = ev
			}
			ready, first, err := coldStart(ctx, filepath.Join(bin, name), stack.env(name), event)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			res.ready[name] = append(res.ready[name], ready)
			if event != nil {
				res.firstInvoke = append(res.firstInvoke, first)
			}
		}
	}
	res.cmd = fmt.Sprintf("scripts/bench --cold-runs %d   # the cold-start step of go run ./scripts/benchmark", o.coldRuns)
	r.cold = res
	return nil
}

// coldStart execs one bootstrap and returns the milliseconds to its first
// GET .../next and, with an event, to its response to that event.
func coldStart(ctx context.Context, dir string, env []string, event []byte) (ready, first float64, err error) {
	rt, err := startFakeRuntime()
	if err != nil {
		return 0, 0, err
	}
	defer rt.srv.Close()
	cmd := exec.Command(filepath.Join(dir, "bootstrap"))
	cmd.Dir = dir
	cmd.Env = benchEnv(append([]string{"AWS_LAMBDA_RUNTIME_API=" + rt.addr, "AWS_LAMBDA_FUNCTION_NAME=" + filepath.Base(dir),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST", "AWS_LAMBDA_LOG_FORMAT=JSON"}, env...)...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	timeout := time.After(30 * time.Second)
	select {
	case t := <-rt.next:
		ready = float64(t.Sub(t0).Nanoseconds()) / 1e6
	case err := <-exited:
		exited <- err
		return 0, 0, fmt.Errorf("exited before it was ready (%v):\n%s", err, logs.String())
	case <-timeout:
		return 0, 0, fmt.Errorf("not ready after 30s:\n%s", logs.String())
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	if event == nil {
		return ready, 0, nil
	}
	t1 := time.Now()
	rt.deliver <- event
	select {
	case b := <-rt.result:
		first = float64(time.Since(t1).Nanoseconds()) / 1e6
		if !bytes.HasPrefix(b, []byte(`{"isAuthorized":true`)) {
			return 0, 0, fmt.Errorf("first invocation not allowed: %s\n%s", b, logs.String())
		}
	case <-timeout:
		return 0, 0, fmt.Errorf("no response to the first event after 30s:\n%s", logs.String())
	}
	return ready, first, nil
}

func fileSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
