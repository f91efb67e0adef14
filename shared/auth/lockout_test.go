package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestLockoutRules: the login throttle, attempt by attempt, without a
// server (shared/app tests the same against local DynamoDB, bursts
// included).
func TestLockoutRules(t *testing.T) {
	const good, bad = "the right password", "a wrong password"
	type attempt struct {
		after   time.Duration // clock moves this much first
		pw      string
		signErr error
		want    error         // nil, ErrInvalidCredentials, ErrUnavailable, or *ThrottledError
		wait    time.Duration // for a ThrottledError: the Retry-After
		checked bool          // the password was checked (argon2id ran)
	}
	rows := []struct {
		description string
		attempts    []attempt
	}{
		{"failures below the allowance are answered as failures", []attempt{
			{pw: bad, want: ErrInvalidCredentials, checked: true},
			{pw: bad, want: ErrInvalidCredentials, checked: true},
		}},
		{"the failure that uses up the allowance locks for the base period", []attempt{
			{pw: bad, want: ErrInvalidCredentials, checked: true},
			{pw: bad, want: ErrInvalidCredentials, checked: true},
			{pw: bad, want: ErrInvalidCredentials, checked: true},
			{pw: good, want: &ThrottledError{}, wait: 30 * time.Second},
		}},
		{"a locked name is refused without a password check, even the right one", []attempt{
			{pw: bad, want: ErrInvalidCredentials, checked: true},
			{pw: bad, want: ErrInvalidCredentials, checked: true},
			{pw: bad, want: ErrInvalidCredentials, checked: true},
			{after: 29 * time.Second, pw: good, want: &ThrottledError{}, wait: time.Second},
		}},
		{"after the lock one attempt is allowed; a failure doubles the lock", []attempt{
			{pw: bad, want: ErrInvalidCredentials, checked: true},
			{pw: bad, want: ErrInvalidCredentials, checked: true},
			{pw: bad, want: ErrInvalidCredentials, checked: true},
			{after: 30 * time.Second, pw: bad, want: ErrInvalidCredentials, checked: true},
			{pw: good, want: &ThrottledError{}, wait: time.Minute},
		}},
		{"the lock never exceeds the maximum", []attempt{
			{pw: bad, want: ErrInvalidCredentials, checked: true},
			{pw: bad, want: ErrInvalidCredentials, checked: true},
			{pw: bad, want: ErrInvalidCredentials, checked: true},
			{after: 30 * time.Second, pw: bad, want: ErrInvalidCredentials, checked: true},
			{after: time.Minute, pw: bad, want: ErrInvalidCredentials, checked: true},
			{after: 2 * time.Minute, pw: bad, want: ErrInvalidCredentials, checked: true},
			{pw: good, want: &ThrottledError{}, wait: 3 * time.Minute},
		}},
		{"the right password clears the count", []attempt{
			{pw: bad, want: ErrInvalidCredentials, checked: true},
			{pw: bad, want: ErrInvalidCredentials, checked: true},
			{pw: good, checked: true},
			{pw: bad, want: ErrInvalidCredentials, checked: true},
			{pw: bad, want: ErrInvalidCredentials, checked: true},
			{pw: good, checked: true},
		}},
		{"the right password during a KMS outage does not count toward the lock", []attempt{
			{pw: bad, want: ErrInvalidCredentials, checked: true},
			{pw: bad, want: ErrInvalidCredentials, checked: true},
			{pw: good, signErr: errors.New("KMS is down"), want: ErrUnavailable, checked: true},
			{pw: good, signErr: errors.New("KMS is down"), want: ErrUnavailable, checked: true},
			{pw: good, signErr: errors.New("KMS is down"), want: ErrUnavailable, checked: true},
			{pw: good, signErr: errors.New("KMS is down"), want: ErrUnavailable, checked: true},
			{pw: good, checked: true},
		}},
	}
	for _, row := range rows {
		t.Run(row.description, func(t *testing.T) {
			clock := &testClock{t: t0}
			store := newMemStore(&User{Username: "alice", ID: "u1", PasswordHash: "hash"})
			checked := 0
			signer := &fakeSigner{}
			svc := testLogin(store, signer, func(_, pw string) (bool, error) { checked++; return pw == good, nil }, Options{Issuer: "https://auth.test", Audience: "https://api.test", ClientID: "web",
				AccessTokenTTL: 15 * time.Minute, RefreshTokenTTL: time.Hour, Now: clock.Now,
				LoginMaxFailures: 3, LoginLockoutBase: 30 * time.Second, LoginLockoutMax: 3 * time.Minute})
			for i, a := range row.attempts {
				clock.Advance(a.after)
				signer.fail = a.signErr
				checked = 0
				got, err := svc.Login(context.Background(), "alice", a.pw, "")
				var te *ThrottledError
				switch want := a.want.(type) {
				case nil:
					if err != nil || got.AccessToken == "" {
						t.Fatalf("attempt %d: %v, want tokens", i+1, err)
					}
				case *ThrottledError:
					if !errors.As(err, &te) || te.RetryAfter != a.wait {
						t.Fatalf("attempt %d: %v, want locked for %v", i+1, err, a.wait)
					}
				default:
					if !errors.Is(err, want) {
						t.Fatalf("attempt %d: %v, want %v", i+1, err, want)
					}
				}
				if (checked == 1) != a.checked || checked > 1 {
					t.Fatalf("attempt %d: %d password checks, want checked=%v", i+1, checked, a.checked)
				}
			}
		})
	}
}

// TestThrottleKeyIsKeyed: attempts are counted under a keyed hash of the
// name, never the name: a password typed into the username field must not
// sit in the table, nor be found by hashing a dictionary.
func TestThrottleKeyIsKeyed(t *testing.T) {
	store := newMemStore(nil)
	svc := testLogin(store, fakeSigner{}, func(string, string) (bool, error) { return false, nil },
		Options{LoginMaxFailures: 3, LoginLockoutBase: time.Second, LoginLockoutMax: time.Minute, Now: (&testClock{t: t0}).Now})
	const typed = "hunter2-my-password"
	if _, err := svc.Login(context.Background(), typed, "x", ""); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatal(err)
	}
	other := &Login{mac: newMACKey("Login", []byte("fedcba9876543210fedcba9876543210"))}
	for key := range store.attempts {
		if strings.Contains(key, typed) || key == other.throttleKey(typed) || key != svc.throttleKey(typed) {
			t.Fatalf("throttle key %q: not the keyed hash of the name", key)
		}
	}
	if len(store.attempts) != 1 {
		t.Fatalf("%d throttle records, want 1", len(store.attempts))
	}
}
