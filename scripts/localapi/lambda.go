package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Lambda is one function's bootstrap running under aws-lambda-rie, the
// emulator `sam local` runs inside its containers. Like one Lambda execution
// environment it serves one invocation at a time; the first one runs init.
type Lambda struct {
	*Process
	Name string // logical id
	url  string
	mu   sync.Mutex // one invocation at a time
}

// LambdaConfig says how to run one function.
type LambdaConfig struct {
	RIE       string            // path of aws-lambda-rie
	Bootstrap string            // path of the function's bootstrap binary
	Function  *Function         // from the template: name, timeout, memory, log format
	Env       map[string]string // the function's variables (Function.Resolve) and the runtime's (region, credentials)
	Output    io.Writer         // the emulator's and the function's output
}

// StartLambda starts the emulator on two free loopback ports of its own
// and waits until it accepts invocations. A port can be taken by another
// program between choosing and binding it: then it tries new ports.
func StartLambda(ctx context.Context, c LambdaConfig) (*Lambda, error) {
	var err error
	for range 3 {
		var l *Lambda
		if l, err = startLambda(ctx, c); err == nil || ctx.Err() != nil {
			return l, err
		}
	}
	return nil, err
}

func startLambda(ctx context.Context, c LambdaConfig) (*Lambda, error) {
	api, err := freeAddr()
	if err != nil {
		return nil, err
	}
	runtimeAPI, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(c.RIE, "--runtime-interface-emulator-address", api,
		"--runtime-api-address", runtimeAPI, "--log-level", "error", "./"+filepath.Base(c.Bootstrap))
	cmd.Dir = filepath.Dir(c.Bootstrap)
	cmd.Env = lambdaEnv(c)
	cmd.Stdout, cmd.Stderr = c.Output, c.Output
	p, err := Spawn(cmd)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Function.ID, err)
	}
	l := &Lambda{Process: p, Name: c.Function.ID, url: "http://" + api + "/2015-03-31/functions/function/invocations"}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if conn, err := net.Dial("tcp", api); err == nil {
			conn.Close()
			// Listening, unless the emulator failed to bind and exits now
			// while another program holds the port.
			select {
			case <-l.Done():
			case <-time.After(20 * time.Millisecond):
				return l, nil
			}
		}
		select {
		case <-l.Done():
			return nil, fmt.Errorf("%s: aws-lambda-rie exited: %v", l.Name, l.Err())
		case <-ctx.Done():
			l.Stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			l.Stop()
			return nil, fmt.Errorf("%s: aws-lambda-rie did not listen on %s", l.Name, api)
		}
	}
}

// lambdaEnv is the environment of a Lambda execution environment: the
// function's variables, the runtime's reserved ones, and nothing of the
// caller's (no AWS_CA_BUNDLE, profile or credentials file).
func lambdaEnv(c LambdaConfig) []string {
	f := c.Function
	vars := map[string]string{
		"PATH":                            "/usr/local/bin:/usr/bin:/bin",
		"TZ":                              ":UTC",
		"LANG":                            "en_US.UTF-8",
		"AWS_LAMBDA_FUNCTION_NAME":        f.ID,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(max(f.MemorySize, 128)),
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     f.timeoutSeconds(),
		"AWS_CONFIG_FILE":                 os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE":     os.DevNull,
		"AWS_EC2_METADATA_DISABLED":       "true",
	}
	if f.LogFormat != "" {
		vars["AWS_LAMBDA_LOG_FORMAT"] = f.LogFormat
	}
	for k, v := range c.Env {
		vars[k] = v
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+vars[k])
	}
	return out
}

// FunctionError is an invocation that ended in an error of the function:
// Lambda's {"errorMessage", "errorType"} answer, a crash or a timeout.
type FunctionError struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("function error %s: %s", e.Type, e.Message)
}

// Invoke runs one invocation and returns the function's response payload.
func (l *Lambda) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Process != nil {
		if err := l.Err(); err != nil {
			return nil, fmt.Errorf("%s is not running: %v", l.Name, err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := invokeClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", l.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", l.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		// 502: init or the invocation failed (process exit); 504: timed out.
		return nil, &FunctionError{Type: "Runtime.Emulator" + strconv.Itoa(resp.StatusCode), Message: string(body)}
	}
	if bytes.HasPrefix(body, []byte("Task timed out")) {
		return nil, &FunctionError{Type: "Sandbox.Timedout", Message: string(body)}
	}
	var fe FunctionError
	if json.Unmarshal(body, &fe) == nil && fe.Type != "" && fe.Message != "" && !hasKey(body, "statusCode") {
		return nil, &fe
	}
	return body, nil
}

func hasKey(body []byte, key string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	_, ok := m[key]
	return ok
}

// invokeClient never reuses a proxy setting of the caller's environment.
var invokeClient = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}}

var (
	portsMu sync.Mutex
	given   = map[string]bool{} // addresses freeAddr handed out in this process
)

// freeAddr is a loopback address no program listens on now, and one this
// process has not handed out before (the OS may offer a port again as
// soon as it is closed, before the emulator given it has bound it).
func freeAddr() (string, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := ln.Addr().String()
		ln.Close()
		if !given[addr] {
			given[addr] = true
			return addr, nil
		}
	}
	return "", fmt.Errorf("no free loopback port")
}
