package testenv

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// FaultProxy stands between the code under test and a local stand-in
// (local-kms or DynamoDB Local) and fails on demand, as a network or an AWS
// service can and the stand-ins cannot: a connection dropped without an
// answer, a request that never gets one, a 500 error. Point the SDK at
// URL (t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", p.URL)) and Set a Fault;
// everything else passes through unchanged.
type FaultProxy struct {
	URL string

	mu    sync.Mutex
	fault Fault
	stop  chan struct{} // closed at the test's end: hung requests return
	pass  http.Handler
}

// Fault is what the proxy does with the requests it matches. With Op set
// (the part of X-Amz-Target after the dot: "PutItem", "Sign") only those
// requests fail, and with Table set only those naming that table; the rest
// pass. With Once set, only the first matching request fails and the fault
// is then cleared. The zero Fault passes everything.
type Fault struct {
	Mode  Mode
	Op    string
	Table string
	Once  bool
}

// Mode is how a request fails.
type Mode int

// The modes. Drop, Hang and Error act before the request reaches the
// stand-in, so the stand-in sees nothing of it. The After modes let the
// stand-in apply the request, then lose its answer: what a write whose
// answer is lost looks like to the caller (it happened, and the caller
// cannot tell).
const (
	Pass       Mode = iota // forward the request, return the answer
	Drop                   // close the connection without an answer
	Hang                   // never answer (until the client gives up or the test ends)
	Error                  // answer 500 with the service's internal error
	AfterDrop              // apply the request, then close the connection (a reset)
	AfterHang              // apply the request, then hold the answer until the client gives up
	AfterError             // apply the request, then answer 500 instead
)

var modeNames = [...]string{Pass: "pass", Drop: "drop", Hang: "hang", Error: "error",
	AfterDrop: "after-drop", AfterHang: "after-hang", AfterError: "after-error"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// NewFaultProxy starts a proxy to target (an endpoint URL such as
// os.Getenv("AWS_ENDPOINT_URL_KMS")) that passes everything until Set. It
// stops when the test ends.
func NewFaultProxy(t testing.TB, target string) *FaultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		t.Fatalf("fault proxy target %q: %v", target, err)
	}
	p := &FaultProxy{stop: make(chan struct{}), pass: httputil.NewSingleHostReverseProxy(u)}
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		close(p.stop)
		srv.Close()
	})
	p.URL = srv.URL
	return p
}

// Set makes the proxy act on every request from now on as f says.
func (p *FaultProxy) Set(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
}

// Reset lets every request pass again.
func (p *FaultProxy) Reset() { p.Set(Fault{}) }

// take returns the fault to apply to r: the one set if r matches it
// (clearing a fault set Once), else Pass.
func (p *FaultProxy) take(r *http.Request) Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.fault
	if f.Mode == Pass || !f.matches(r) {
		return Fault{}
	}
	if f.Once {
		p.fault = Fault{}
	}
	return f
}

func (p *FaultProxy) serve(w http.ResponseWriter, r *http.Request) {
	f := p.take(r)
	if f.Mode == Pass {
		p.pass.ServeHTTP(w, r)
		return
	}
	if f.Mode >= AfterDrop {
		// Let the stand-in apply it; its answer is thrown away.
		p.pass.ServeHTTP(httptest.NewRecorder(), r)
		f.Mode -= AfterDrop - Drop
	}
	switch f.Mode {
	case Drop:
		drop(w)
	case Hang:
		select {
		case <-r.Context().Done():
		case <-p.stop:
		}
	case Error:
		internalError(w, r)
	}
}

// matches: the request is of f's operation and names f's table (each when
// set). It reads the body and puts it back for the stand-in.
func (f Fault) matches(r *http.Request) bool {
	if f.Op == "" {
		return true
	}
	b, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), "."+f.Op) {
		return false
	}
	return f.Table == "" || bytes.Contains(b, []byte(`"TableName":"`+f.Table+`"`))
}

// drop closes the client's connection without a byte of answer.
func drop(w http.ResponseWriter) {
	if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
		c.Close()
	}
}

// internalError answers as the service does when it fails: 500 with its
// internal error type, which the SDK retries.
func internalError(w http.ResponseWriter, r *http.Request) {
	typ := "com.amazonaws.dynamodb.v20120810#InternalServerError"
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "TrentService.") {
		typ = "KMSInternalException"
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusInternalServerError)
	io.WriteString(w, `{"__type":"`+typ+`","message":"injected failure"}`)
}
