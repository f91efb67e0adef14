package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/scripts/testenv"
)

// TestFindsTheRunningDev: with no table given (no -table, no USERS_TABLE),
// create-user uses the tables and endpoints of the running scripts/dev,
// from its endpoints file, and none of the caller's AWS configuration.
func TestFindsTheRunningDev(t *testing.T) {
	env := testenv.New(t)
	state := t.TempDir()
	lambdaURL, calls := revokeFunction(t, env, time.Now)
	err := localaws.WriteEnvFile(filepath.Join(state, localaws.EndpointsFile), "a scripts/dev stand-in", [][2]string{
		{"AWS_ENDPOINT_URL_KMS", os.Getenv("AWS_ENDPOINT_URL_KMS")},
		{"AWS_ENDPOINT_URL_DYNAMODB", os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")},
		{"AWS_ENDPOINT_URL_LAMBDA", lambdaURL},
		{"USERS_TABLE", env.Tables.Users},
		{"REVOKE_FUNCTION", "RevokeFunction"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The caller's own settings would lead nowhere.
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:1")
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:1")
	t.Setenv("AWS_PROFILE", "nobody-here")
	none := func(string) string { return "" }
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"-state", state, "-username", "Dev@Example.com", "-password-stdin"},
		strings.NewReader("a strong password\n"), &out, none); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "the local stack of scripts/dev: table "+env.Tables.Users+", function RevokeFunction") {
		t.Errorf("output does not say which stack:\n%s", out.String())
	}
	u, err := env.Store.User(ctx, "dev@example.com")
	if err != nil || u == nil {
		t.Fatalf("user not in the local users table: %v", err)
	}
	// The revoke function's endpoint comes from the same file.
	if err := run(ctx, []string{"-state", state, "-username", "dev@example.com", "-disable"}, nil, &out, none); err != nil {
		t.Fatal(err)
	}
	if revs, err := env.Store.Revocations(ctx, "-", "-", u.ID); err != nil || len(revs) != 1 || calls.Load() != 1 {
		t.Errorf("-disable: %d invocations of the local revoke function, revocations %+v %v", calls.Load(), revs, err)
	}
}

// TestNoTableAndNoDev: with no table given and no scripts/dev running,
// the error says both ways out.
func TestNoTableAndNoDev(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-state", t.TempDir(), "-username", "nobody", "-password-stdin"},
		strings.NewReader("a strong password\n"), &out, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "-table or USERS_TABLE") || !strings.Contains(err.Error(), "scripts/dev is not running") {
		t.Errorf("no table, no scripts/dev: %v", err)
	}
}
