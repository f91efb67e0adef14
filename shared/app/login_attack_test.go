package app_test

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/kmssign"
	"github.com/authkit/lambda-auth/shared/password"
)

// TestLoginFailuresLookAlike: whatever made a login fail (no such user, a
// wrong password, a disabled user, a name that cannot be a username, a
// look-alike of a real name), the client gets the same response, byte for
// byte: status, headers, body, no cookie. (Same argon2id work for each:
// TestSameWorkForEveryFailure; same throttling: TestLoginThrottle.)
func TestLoginFailuresLookAlike(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "wendy", "the right password")
	off := env.CreateUser(t, "olga", "the right password")
	if err := env.Store.SetUserDisabled(context.Background(), off.Username, true); err != nil {
		t.Fatal(err)
	}
	s := newService(t, env)

	want := call(t, s.login, loginEvent(t, "wendy", "a wrong password"))
	if want.StatusCode != 401 || errorCode(t, want) != "invalid_credentials" || len(want.Cookies) != 0 {
		t.Fatalf("wrong password: %d %s %v", want.StatusCode, want.Body, want.Cookies)
	}
	for name, login := range map[string][2]string{
		"unknown user":         {"nobody", "the right password"},
		"disabled user":        {"olga", "the right password"},
		"not a username":       {"not a username!", "the right password"},
		"look-alike username":  {"wеndy", "the right password"}, // Cyrillic е
		"password as username": {"the right password", "the right password"},
	} {
		got := call(t, s.login, loginEvent(t, login[0], login[1]))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: response differs from a wrong password's:\n got %+v\nwant %+v", name, got, want)
		}
	}
}

// TestLoginLimitsBeforeHashing: an oversized body or password is refused
// before any argon2id work (counted through the service's VerifyPassword
// seam), by the real login handler and by the service on its own. A
// password at the limit is verified, so the counter counts.
func TestLoginLimitsBeforeHashing(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "xena", "the right password")
	ctx := context.Background()
	signer, err := kmssign.New(ctx, env.KMS, env.KeyID, "RS256")
	if err != nil {
		t.Fatal(err)
	}
	var verified atomic.Int32
	o := auth.Options{Issuer: "https://auth.test.example", Audience: "https://api.test.example", ClientID: "web",
		AccessTokenTTL: 15 * time.Minute, RefreshTokenTTL: time.Hour,
		LoginMaxFailures: 100, LoginLockoutBase: time.Second, LoginLockoutMax: time.Minute,
		Logger: slog.New(slog.DiscardHandler)}
	revoker := auth.NewRevoker(env.Store, env.Store, auth.NoMetrics{}, o)
	svc := auth.NewLogin(env.Store, env.Store, revoker, auth.NewAccessIssuer(signer, o), env.MACKey(t),
		auth.Passwords{Dummy: password.Dummy(), Verify: func(hash, pw string) (bool, error) {
			verified.Add(1)
			return password.Verify(hash, pw)
		}}, auth.NoMetrics{}, o)
	login := apigw.Login(svc, apigw.CookieConfig{Name: "__Secure-refresh_token", Path: "/auth"}, slog.New(slog.DiscardHandler), nil)

	huge := strings.Repeat("p", 10<<20)
	cases := []struct {
		name     string
		body     string
		b64      bool
		status   int
		verified int32
	}{
		{"10 MB password", `{"username":"xena","password":"` + huge + `"}`, false, 413, 0},
		{"10 MB base64 body", huge, true, 413, 0},
		{"password one byte over the limit", `{"username":"xena","password":"` + strings.Repeat("p", password.MaxBytes+1) + `"}`, false, 400, 0},
		{"username over the limit", `{"username":"` + strings.Repeat("x", 300) + `","password":"the right password"}`, false, 400, 0},
		{"password at the limit", `{"username":"xena","password":"` + strings.Repeat("p", password.MaxBytes) + `"}`, false, 401, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			verified.Store(0)
			req := loginEvent(t, "x", "y")
			req.Body, req.IsBase64Encoded = tc.body, tc.b64
			resp := call(t, login, req)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d %.100s, want %d", resp.StatusCode, resp.Body, tc.status)
			}
			if got := verified.Load(); got != tc.verified {
				t.Errorf("%d argon2id verifications, want %d", got, tc.verified)
			}
		})
	}
	// The service refuses on its own, whatever its caller checked.
	verified.Store(0)
	if _, err := svc.Login(ctx, "xena", strings.Repeat("p", password.MaxBytes+1), ""); !errors.Is(err, auth.ErrInvalidRequest) || verified.Load() != 0 {
		t.Errorf("service with an oversized password: %v after %d verifications, want ErrInvalidRequest after none", err, verified.Load())
	}
}
