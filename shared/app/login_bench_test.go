package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
	"github.com/authkit/lambda-auth/shared/app"
)

// The failed-login benchmarks: an unknown username and a wrong password
// for a real one must cost the same (same argon2id work, same DynamoDB
// calls), or the time of a failure tells whether an account exists.
// Compare them:
//
//	scripts/test -run '^$' -bench 'BenchmarkLogin' -benchtime 40x -count 6 ./shared/app/
//
// They run the real login handler against local DynamoDB and KMS, with the
// throttle raised so that no attempt is refused before the password check.
func BenchmarkLoginUnknownUser(b *testing.B)   { benchFailedLogin(b, "nobody-here", "a wrong password") }
func BenchmarkLoginWrongPassword(b *testing.B) { benchFailedLogin(b, "known", "a wrong password") }
func BenchmarkLoginDisabledUser(b *testing.B)  { benchFailedLogin(b, "disabled", "the right password") }

func benchFailedLogin(b *testing.B, username, password string) {
	env := testenv.New(b)
	env.Set("LOGIN_MAX_FAILURES", "1000000000")
	env.CreateUser(b, "known", "the right password")
	off := env.CreateUser(b, "disabled", "the right password")
	ctx := context.Background()
	if err := env.Store.SetUserDisabled(ctx, off.Username, true); err != nil {
		b.Fatal(err)
	}
	login, err := app.Login(ctx, env.Getenv, app.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	var req apigw.Request
	if err := json.Unmarshal(testenv.Event(b, "login"), &req); err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"username": username, "password": password})
	req.Body = string(body)
	if resp, _ := login(ctx, req); resp.StatusCode != 401 { // warm: the dummy hash, connections
		b.Fatalf("login %s: %d %s, want 401", username, resp.StatusCode, resp.Body)
	}
	for b.Loop() {
		if resp, _ := login(ctx, req); resp.StatusCode != 401 {
			b.Fatalf("login %s: %d %s, want 401", username, resp.StatusCode, resp.Body)
		}
	}
}
