package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/password"
)

// TestMain starts local KMS and DynamoDB for this package when no
// endpoint is given (a plain go test); scripts/test gives its own.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func TestCreateDisableReplace(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	url, _ := revokeFunction(t, env, time.Now)
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", url)
	getenv := func(k string) string {
		return map[string]string{"USERS_TABLE": env.Tables.Users, "REVOKE_FUNCTION": "RevokeFunction"}[k]
	}
	var out bytes.Buffer
	err := run(ctx, []string{"-username", "Zoe@Example.com", "-scopes", "read, write", "-password-stdin"},
		strings.NewReader("a strong password\n"), &out, getenv)
	if err != nil {
		t.Fatal(err)
	}
	u, err := env.Store.User(ctx, "zoe@example.com")
	if err != nil || u == nil {
		t.Fatalf("user not stored: %v", err)
	}
	if ok, _ := password.Verify(u.PasswordHash, "a strong password"); !ok || strings.Join(u.Scopes, " ") != "read write" || u.ID == "" {
		t.Errorf("stored user %+v", u)
	}
	if strings.Contains(out.String(), "a strong password") {
		t.Error("password echoed")
	}
	// A second create of the same (normalized) name is refused.
	if err := run(ctx, []string{"-username", "ZOE@example.com", "-password-stdin"}, strings.NewReader("another password\n"), &out, getenv); err == nil {
		t.Error("duplicate user created")
	}
	if err := run(ctx, []string{"-username", "zoe@example.com", "-disable"}, nil, &out, getenv); err != nil {
		t.Fatal(err)
	}
	if u2, _ := env.Store.User(ctx, "zoe@example.com"); !u2.Disabled {
		t.Error("not disabled")
	}
	revs, err := env.Store.Revocations(ctx, "-", "-", u.ID)
	if err != nil || len(revs) != 1 || revs[0].Value != u.ID || revs[0].RevokedAt.IsZero() {
		t.Errorf("-disable wrote no user revocation: %+v %v", revs, err)
	}
	if err := run(ctx, []string{"-username", "zoe@example.com", "-replace", "-password-stdin"}, strings.NewReader("a new password\n"), &out, getenv); err != nil {
		t.Fatal(err)
	}
	u3, _ := env.Store.User(ctx, "zoe@example.com")
	if ok, _ := password.Verify(u3.PasswordHash, "a new password"); !ok || u3.ID != u.ID || !u3.Disabled || strings.Join(u3.Scopes, " ") != "read write" {
		t.Errorf("replace: %+v (id, scopes and disabled flag must be kept)", u3)
	}
	for _, bad := range [][]string{{"-username", "zоe"}, {"-username", "short", "-password-stdin"}} {
		if err := run(ctx, bad, strings.NewReader("short\n"), &out, getenv); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
