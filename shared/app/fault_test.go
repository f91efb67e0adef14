package app_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// faultProxy stands between the functions and a local stand-in (local-kms
// or dynalite) and fails on demand, as a network or an AWS service can and
// the stand-ins cannot: connections dropped without an answer, requests
// that never get one, or 500 errors for one operation on one table.
type faultProxy struct {
	URL   string
	mu    sync.Mutex
	fault fault
	stop  chan struct{}
}

// fault is what the proxy does with a request. With op set (the part of
// X-Amz-Target after the dot: "PutItem", "Sign") only matching requests
// fail, and with table set only those naming that table; the rest pass.
//
// The "after-" modes pass the request on and let the stand-in apply it,
// then lose the answer: "after-hang" holds it until the client gives up,
// "after-error" answers 500 instead, "after-reset" closes the connection.
// That is what a write whose answer is lost looks like to the caller: it
// happened, and the caller cannot tell. With once set, only the first
// matching request fails; the fault is then cleared.
type fault struct {
	mode  string // "" (pass), "drop", "hang", "error", "after-hang", "after-error" or "after-reset"
	op    string
	table string
	once  bool
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		t.Fatalf("fault proxy target %q: %v", target, err)
	}
	p := &faultProxy{stop: make(chan struct{})}
	pass := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := p.take(r)
		if after, ok := strings.CutPrefix(f.mode, "after-"); ok {
			// Let the stand-in apply the request, then lose its answer.
			rec := httptest.NewRecorder()
			pass.ServeHTTP(rec, r)
			f.mode = after
			if after == "reset" {
				f.mode = "drop"
			}
		}
		switch f.mode {
		case "drop":
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
		case "hang":
			select {
			case <-r.Context().Done():
			case <-p.stop:
			}
		case "error":
			typ := "com.amazonaws.dynamodb.v20120810#InternalServerError"
			if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "TrentService.") {
				typ = "KMSInternalException"
			}
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(500)
			io.WriteString(w, `{"__type":"`+typ+`","message":"injected failure"}`)
		default:
			pass.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(func() {
		close(p.stop)
		srv.Close()
	})
	p.URL = srv.URL
	return p
}

func (p *faultProxy) set(f fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
}

// take returns what to do with r: the fault if r matches it (clearing a
// fault set once), else pass.
func (p *faultProxy) take(r *http.Request) fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.fault
	if f.mode == "" {
		return f
	}
	if f.op != "" {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		target := r.Header.Get("X-Amz-Target")
		if !strings.HasSuffix(target, "."+f.op) || (f.table != "" && !bytes.Contains(b, []byte(`"TableName":"`+f.table+`"`))) {
			return fault{}
		}
	}
	if f.once {
		p.fault = fault{}
	}
	return f
}
