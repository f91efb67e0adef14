package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
)

// TestReplaceEndsSessions: a password reset (-replace) ends every session
// the user had (a user revocation entry at the instant of the reset), so
// an attacker who knew the old password keeps no refresh chain; with
// -keep-sessions it writes nothing.
func TestReplaceEndsSessions(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	url, calls := revokeFunction(t, env, time.Now)
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", url)
	getenv := func(k string) string {
		return map[string]string{"USERS_TABLE": env.Tables.Users, "REVOKE_FUNCTION": "RevokeFunction"}[k]
	}
	var out bytes.Buffer
	for _, name := range []string{"kept", "reset"} {
		if err := run(ctx, []string{"-username", name, "-password-stdin"}, strings.NewReader("the first password\n"), &out, getenv); err != nil {
			t.Fatal(err)
		}
	}
	kept, _ := env.Store.User(ctx, "kept")
	reset, _ := env.Store.User(ctx, "reset")
	if err := run(ctx, []string{"-username", "kept", "-replace", "-keep-sessions", "-password-stdin"}, strings.NewReader("a new password\n"), &out, getenv); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"-username", "reset", "-replace", "-password-stdin"}, strings.NewReader("a new password\n"), &out, getenv); err != nil {
		t.Fatal(err)
	}
	revs, err := env.Store.Revocations(ctx, "-", "-", reset.ID)
	if err != nil || len(revs) != 1 || revs[0].Value != reset.ID || !revs[0].RevokedAt.After(reset.CreatedAt) {
		t.Errorf("-replace: revocations %+v %v, want one user entry after the user's creation", revs, err)
	}
	if revs, err := env.Store.Revocations(ctx, "-", "-", kept.ID); err != nil || len(revs) != 0 {
		t.Errorf("-replace -keep-sessions: revocations %+v %v, want none", revs, err)
	}
	if calls.Load() != 1 {
		t.Errorf("the revoke function was invoked %d times, want once (for -replace only)", calls.Load())
	}
}
