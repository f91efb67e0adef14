package app_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/app"
)

// TestAuthorizerFailsClosed: with DynamoDB not answering, the authorizer
// denies within its budget: HTTP API -> isAuthorized false, REST -> Deny.
func TestAuthorizerFailsClosed(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "oscar", "a long enough password")
	s := newService(t, env)
	tok := s.doLogin(t, "oscar", "a long enough password")

	// A server that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://"+ln.Addr().String())
	env.Set("AUTHORIZER_STORE_TIMEOUT", "300ms")
	logs := &testenv.LogBuffer{}
	authz, err := app.Authorizer(context.Background(), env.Getenv, app.WithLogger(slog.New(slog.NewJSONHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"authorizer", "authorizer-rest-token", "authorizer-rest-request"} {
		start := time.Now()
		out, err := authz(context.Background(), fixture(t, name, "REPLACE_WITH_ACCESS_TOKEN", tok.Access))
		took := time.Since(start)
		assertDenied(t, out, err)
		// A generous bound: the point is that the budget exists at all
		// (the SDK would otherwise wait for its own much longer timeouts).
		if took > 5*time.Second {
			t.Errorf("%s: denied after %v with a 300ms budget", name, took)
		}
	}
	if !strings.Contains(logs.String(), "fail closed") || strings.Contains(logs.String(), tok.Access) {
		t.Errorf("deny log: want the fail-closed reason and no token:\n%s", logs)
	}
}

// TestAuthorizerRetryBudget: against a DynamoDB answering 500, the
// authorizer tries each read at most twice (strict: the lookup; replica:
// each Query of the cold load, and no read at all for a request within a
// second of a failed one), then denies.
func TestAuthorizerRetryBudget(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "uma", "a long enough password")
	s := newService(t, env)
	tok := s.doLogin(t, "uma", "a long enough password")

	var mu sync.Mutex
	bodies := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies[string(b)]++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(500)
		w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"boom"}`))
	}))
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", srv.URL)
	env.Set("AUTHORIZER_STORE_TIMEOUT", "10s")
	authz, err := app.Authorizer(context.Background(), env.Getenv, app.WithLogger(slog.New(slog.NewJSONHandler(&testenv.LogBuffer{}, nil))))
	if err != nil {
		t.Fatal(err)
	}
	out, err := authz(context.Background(), fixture(t, "authorizer", "REPLACE_WITH_ACCESS_TOKEN", tok.Access))
	assertDenied(t, out, err)
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) == 0 {
		t.Fatal("DynamoDB saw no request")
	}
	for b, n := range bodies {
		if n != 2 {
			t.Errorf("DynamoDB saw %d attempts of %.80s, want 2", n, b)
		}
	}
}
