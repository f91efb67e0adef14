package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/app"
	"github.com/authkit/lambda-auth/shared/auth"
)

// invokerFunc is a function served through the Lambda Invoke API.
type invokerFunc func(context.Context, []byte) ([]byte, error)

func (f invokerFunc) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return f(ctx, payload)
}

// revokeFunction serves the Lambda Invoke API (as scripts/dev does) with the
// stack's revoke function wired in process, as functions/revoke wires it,
// on its own clock: the deployed function's, not the operator's. It
// returns the endpoint and a count of invocations.
func revokeFunction(t *testing.T, env *testenv.Env, clock func() time.Time) (string, *atomic.Int32) {
	t.Helper()
	h, err := app.Revoke(context.Background(), env.Getenv, app.WithClock(clock), app.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	srv := httptest.NewServer(localapi.InvokeAPI(map[string]localapi.Invoker{
		"RevokeFunction": invokerFunc(func(ctx context.Context, payload []byte) ([]byte, error) {
			calls.Add(1)
			out, err := h(ctx, payload)
			if err != nil {
				return nil, &localapi.FunctionError{Type: "errorString", Message: err.Error()}
			}
			return json.Marshal(out)
		}),
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &calls
}

// TestOperatorClockDecidesNothing: the operator's laptop is two minutes
// behind the deployed functions. -replace must still end a session that
// started one minute ago by the functions' clock (a minute "in the
// future" for the laptop): the cutoff is the revoke function's clock.
func TestOperatorClockDecidesNothing(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	u := env.CreateUser(t, "lena@example.com", "the first password")
	functionsNow := func() time.Time { return time.Now().Add(2 * time.Minute) }
	url, calls := revokeFunction(t, env, functionsNow)
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", url)
	getenv := func(k string) string {
		return map[string]string{"USERS_TABLE": env.Tables.Users, "REVOKE_FUNCTION": "RevokeFunction"}[k]
	}

	// A session the functions started a minute ago (their clock).
	started := functionsNow().Add(-time.Minute)

	var out bytes.Buffer
	if err := run(ctx, []string{"-username", "lena@example.com", "-replace", "-password-stdin"},
		strings.NewReader("a new password\n"), &out, getenv); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Fatalf("the revoke function was invoked %d times, want once", calls.Load())
	}
	revs, err := env.Store.Revocations(ctx, "-", "-", u.ID)
	if err != nil || len(revs) != 1 {
		t.Fatalf("revocations %+v %v", revs, err)
	}
	target := auth.Target{UserID: u.ID, SessionStart: started}
	if !revs[0].Covers(target, functionsNow()) {
		t.Fatalf("a session started a minute ago by the functions' clock survives -replace (cutoff %v, laptop %v)", revs[0].RevokedAt, time.Now())
	}
	if !strings.Contains(out.String(), "the revoke function's clock") {
		t.Errorf("output does not say whose clock: %s", out.String())
	}
}

// TestRevokeFunctionFailure: when the revoke function cannot be reached or
// fails, -disable is an error that says what to do (the user record is
// changed; run it again), never a silent success.
func TestRevokeFunctionFailure(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	env.CreateUser(t, "mia@example.com", "the first password")
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		w.Write([]byte(`{"errorMessage":"revoke user: a dependency is unavailable","errorType":"errorString"}`))
	}))
	defer failing.Close()
	getenv := func(k string) string {
		return map[string]string{"USERS_TABLE": env.Tables.Users, "REVOKE_FUNCTION": "RevokeFunction"}[k]
	}
	var out bytes.Buffer
	for name, endpoint := range map[string]string{"function error": failing.URL, "nothing listening": "http://127.0.0.1:1"} {
		t.Setenv("AWS_ENDPOINT_URL_LAMBDA", endpoint)
		err := run(ctx, []string{"-username", "mia@example.com", "-disable"}, nil, &out, getenv)
		if err == nil || !strings.Contains(err.Error(), "run the command again") {
			t.Errorf("%s: %v, want an error telling to run it again", name, err)
		}
	}
	if u, _ := env.Store.User(ctx, "mia@example.com"); u == nil || !u.Disabled {
		t.Error("the user was not disabled before the revocation was tried")
	}
	// Without a revoke function, -disable refuses unless told to keep sessions.
	none := func(k string) string { return map[string]string{"USERS_TABLE": env.Tables.Users}[k] }
	if err := run(ctx, []string{"-username", "mia@example.com", "-disable"}, nil, &out, none); err == nil || !strings.Contains(err.Error(), "-revoke-function") {
		t.Errorf("no revoke function: %v", err)
	}
	if err := run(ctx, []string{"-username", "mia@example.com", "-disable", "-keep-sessions"}, nil, &out, none); err != nil {
		t.Errorf("-keep-sessions without a revoke function: %v", err)
	}
}
