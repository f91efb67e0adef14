package app_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
)

// TestLoginThrottle: after LOGIN_MAX_FAILURES failures the account answers
// 429 with Retry-After, even to the right password, without hashing; the
// state is in DynamoDB so a cold start (new wiring) keeps it; an unknown
// username is throttled the same way, so lockouts reveal no account.
func TestLoginThrottle(t *testing.T) {
	env := testenv.New(t)
	env.Set("LOGIN_MAX_FAILURES", "3")
	env.Set("LOGIN_LOCKOUT_BASE", "30s")
	env.CreateUser(t, "judy", "the right password")
	s := newService(t, env)

	for _, name := range []string{"judy", "nobody-here"} {
		for i := range 3 {
			resp := call(t, s.login, loginEvent(t, name, "wrong password"))
			if resp.StatusCode != 401 || errorCode(t, resp) != "invalid_credentials" {
				t.Fatalf("%s failure %d: %d %s", name, i, resp.StatusCode, resp.Body)
			}
		}
		cold := newService(t, env) // a new container (its own clock, at the time it starts)
		resp := call(t, cold.login, loginEvent(t, name, "the right password"))
		if resp.StatusCode != 429 || errorCode(t, resp) != "too_many_attempts" {
			t.Fatalf("%s after 3 failures: %d %s, want 429", name, resp.StatusCode, resp.Body)
		}
		if ra, err := strconv.Atoi(resp.Headers["retry-after"]); err != nil || ra < 1 || ra > 30 {
			t.Errorf("%s: Retry-After %q", name, resp.Headers["retry-after"])
		}
	}
	// The lockout is per account: another user logs in.
	env.CreateUser(t, "kate", "another password")
	s.doLogin(t, "kate", "another password")
	if strings.Contains(s.logs.String(), "the right password") {
		t.Error("a password reached the logs")
	}
}

func TestLoginThrottleExpires(t *testing.T) {
	env := testenv.New(t)
	env.Set("LOGIN_MAX_FAILURES", "2")
	env.Set("LOGIN_LOCKOUT_BASE", "10s")
	env.CreateUser(t, "leo", "the right password")
	s := newService(t, env)
	for range 2 {
		call(t, s.login, loginEvent(t, "leo", "nope"))
	}
	if resp := call(t, s.login, loginEvent(t, "leo", "the right password")); resp.StatusCode != 429 {
		t.Fatalf("locked: %d", resp.StatusCode)
	}
	s.clock.Advance(11 * time.Second)
	s.doLogin(t, "leo", "the right password") // lockout over; success clears the count
	call(t, s.login, loginEvent(t, "leo", "nope"))
	s.doLogin(t, "leo", "the right password") // one failure after a reset does not lock
}

// TestLoginBurstCannotOutrunLockout: parallel guesses are counted before any
// password work, so of a burst only LOGIN_MAX_FAILURES are checked; after
// the lock ends, one more is checked before the next lock.
func TestLoginBurstCannotOutrunLockout(t *testing.T) {
	env := testenv.New(t)
	env.Set("LOGIN_MAX_FAILURES", "3")
	env.Set("LOGIN_LOCKOUT_BASE", "30s")
	env.CreateUser(t, "quinn", "the right password")
	s := newService(t, env)

	burst := func(n int) (checked, throttled int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				resp := call(t, s.login, loginEvent(t, "quinn", "a wrong guess"))
				mu.Lock()
				defer mu.Unlock()
				switch resp.StatusCode {
				case 401:
					checked++
				case 429:
					throttled++
				default:
					t.Errorf("burst: %d %s", resp.StatusCode, resp.Body)
				}
			})
		}
		wg.Wait()
		return checked, throttled
	}
	if checked, throttled := burst(20); checked != 3 || throttled != 17 {
		t.Fatalf("first burst: %d guesses checked, %d throttled; want 3 and 17", checked, throttled)
	}
	if checked, _ := burst(10); checked != 0 {
		t.Fatalf("burst while locked: %d guesses checked, want 0", checked)
	}
	s.clock.Advance(16 * time.Minute) // past any lock (LOGIN_LOCKOUT_MAX)
	if checked, throttled := burst(10); checked != 1 || throttled != 9 {
		t.Fatalf("burst after the lock: %d checked, %d throttled; want 1 and 9", checked, throttled)
	}
	// Long after the last attempt the record is ignored (TTL) and the user
	// logs in again.
	s.clock.Advance(2 * time.Hour)
	s.doLogin(t, "quinn", "the right password")
}

// TestLockNeverOutlivesItsCount: a lock computed from a count that a
// successful login has since cleared does not land on a fresh record (it
// would raise the allowance of the next count), and a clear keeps attempts
// that arrived after the successful one.
func TestLockNeverOutlivesItsCount(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	now := time.Now()
	exp := now.Add(24 * time.Hour)
	for range 7 {
		if _, err := env.Store.ReserveLoginAttempt(ctx, "vic", now, exp); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.Store.ClearLoginFailures(ctx, "vic", 7); err != nil { // the victim's success
		t.Fatal(err)
	}
	if err := env.Store.LockLogin(ctx, "vic", 6, now.Add(time.Minute), exp); err != nil { // an attacker's late lock
		t.Fatal(err)
	}
	att, err := env.Store.ReserveLoginAttempt(ctx, "vic", now, exp)
	if err != nil {
		t.Fatal(err)
	}
	if att.Count != 1 || att.Allow != 0 || !att.LockedUntil.IsZero() {
		t.Fatalf("after a clear and a stale lock: %+v, want a fresh count of 1 with the default allowance", att)
	}

	// Attempts after the successful one are not forgotten by its clear.
	env.Store.ReserveLoginAttempt(ctx, "vic", now, exp) // 2: an attacker's, after the victim's 1
	if err := env.Store.ClearLoginFailures(ctx, "vic", 1); err != nil {
		t.Fatal(err)
	}
	if att, _ := env.Store.ReserveLoginAttempt(ctx, "vic", now, exp); att.Count != 3 {
		t.Fatalf("count after a stale clear: %d, want 3", att.Count)
	}
}
