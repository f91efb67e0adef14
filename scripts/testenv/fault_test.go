package testenv_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
)

// upstream stands for a stand-in: it answers 200 with the body it got.
func upstream(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		w.Write(append([]byte("upstream:"), b...))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

type answer struct {
	status int
	body   string
	err    error
}

func send(t *testing.T, url, target, body string, timeout time.Duration) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("X-Amz-Target", target)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: string(b)}
}

// TestFaultProxy: each mode fails the requests it matches, and only those;
// the rest reach the stand-in unchanged, body included.
func TestFaultProxy(t *testing.T) {
	srv, hits := upstream(t)
	p := testenv.NewFaultProxy(t, srv.URL)
	const put, get, sign = "DynamoDB_20120810.PutItem", "DynamoDB_20120810.GetItem", "TrentService.Sign"
	sessions, users := `{"TableName":"sessions"}`, `{"TableName":"users"}`

	passes := func(t *testing.T, target, body string) {
		t.Helper()
		before := hits.Load()
		a := send(t, p.URL, target, body, 5*time.Second)
		if a.err != nil || a.status != 200 || a.body != "upstream:"+body || hits.Load() != before+1 {
			t.Errorf("%s %s: %+v, want it passed to the stand-in with its body", target, body, a)
		}
	}
	stopped := func(t *testing.T, before int32) {
		t.Helper()
		if hits.Load() != before {
			t.Error("the failed request reached the stand-in")
		}
	}

	passes(t, put, sessions) // the zero Fault

	t.Run("drop", func(t *testing.T) {
		p.Set(testenv.Fault{Mode: testenv.Drop})
		defer p.Reset()
		before := hits.Load()
		a := send(t, p.URL, get, users, 5*time.Second)
		if a.err == nil || errors.Is(a.err, context.DeadlineExceeded) {
			t.Errorf("dropped request: %+v, want a connection error", a)
		}
		stopped(t, before)
	})
	t.Run("hang", func(t *testing.T) {
		p.Set(testenv.Fault{Mode: testenv.Hang})
		defer p.Reset()
		before := hits.Load()
		a := send(t, p.URL, get, users, 300*time.Millisecond)
		if !errors.Is(a.err, context.DeadlineExceeded) {
			t.Errorf("hung request: %+v, want the client's deadline", a)
		}
		stopped(t, before)
	})
	t.Run("error", func(t *testing.T) {
		p.Set(testenv.Fault{Mode: testenv.Error})
		defer p.Reset()
		for target, typ := range map[string]string{get: "com.amazonaws.dynamodb.v20120810#InternalServerError", sign: "KMSInternalException"} {
			before := hits.Load()
			a := send(t, p.URL, target, users, 5*time.Second)
			if a.status != 500 || !strings.Contains(a.body, `"__type":"`+typ+`"`) {
				t.Errorf("%s: %+v, want 500 %s", target, a, typ)
			}
			stopped(t, before)
		}
	})
	t.Run("one operation on one table", func(t *testing.T) {
		p.Set(testenv.Fault{Mode: testenv.Error, Op: "PutItem", Table: "sessions"})
		defer p.Reset()
		before := hits.Load()
		if a := send(t, p.URL, put, sessions, 5*time.Second); a.status != 500 {
			t.Errorf("PutItem on sessions: %+v, want 500", a)
		}
		stopped(t, before)
		passes(t, put, users)    // another table
		passes(t, get, sessions) // another operation
	})
	t.Run("one operation, any table", func(t *testing.T) {
		p.Set(testenv.Fault{Mode: testenv.Error, Op: "Sign"})
		defer p.Reset()
		if a := send(t, p.URL, sign, `{"KeyId":"k"}`, 5*time.Second); a.status != 500 {
			t.Errorf("Sign: %+v, want 500", a)
		}
		passes(t, "TrentService.GetPublicKey", `{"KeyId":"k"}`)
	})
	passes(t, put, sessions) // Reset lets everything pass again
}

func TestModeNames(t *testing.T) {
	for m, want := range map[testenv.Mode]string{testenv.Pass: "pass", testenv.Drop: "drop", testenv.Hang: "hang", testenv.Error: "error", 9: "Mode(9)"} {
		if got := m.String(); got != want {
			t.Errorf("%d: %q, want %q", int(m), got, want)
		}
	}
}
