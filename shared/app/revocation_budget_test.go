package app_test

import (
	"context"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/metrics"
)

// TestOneUserCannotFloodTheFeed: one user's 20-second flood (refresh and
// an RFC 7009 revocation of the new access token, in a loop, with a login
// and a logout every few rounds), on the test clock from 10 s before a
// budget window ends (the worst case: two windows), adds at most 60 feed
// items; past the budget the user's revocations are escalated to one user
// entry (never dropped: every token they hold is denied), login answers
// 429 with Retry-After until the window ends and works after it, and the
// user's logout-all afterwards is enforced at once.
func TestOneUserCannotFloodTheFeed(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "flo", "a long enough password")
	s := newService(t, env)
	ctx := context.Background()
	now := s.clock.Now()
	// 10 s before a window ends (off the whole second: a login at the
	// exact instant of a cutoff is covered by it with nothing to wait for)
	s.clock.Advance(now.Truncate(auth.FeedBudgetWindow).Add(auth.FeedBudgetWindow - 10*time.Second + 7*time.Millisecond).Sub(now))
	start := s.clock.Now()

	var cur *tokens
	var held []string // every access token the flood obtained
	refused := 0
	for round := 0; s.clock.Now().Before(start.Add(20 * time.Second)); round++ {
		s.clock.Advance(50 * time.Millisecond)
		if cur == nil {
			resp := call(t, s.login, loginEvent(t, "flo", "a long enough password"))
			switch resp.StatusCode {
			case 200:
				tk := s.readTokens(t, resp)
				cur = &tk
				held = append(held, tk.Access)
			case 429:
				refused++
				if ra, err := strconv.Atoi(resp.Headers["retry-after"]); err != nil || ra < 1 || ra > 60 {
					t.Fatalf("429 with Retry-After %q, want 1-60 s", resp.Headers["retry-after"])
				}
				s.clock.Advance(time.Second) // a client that retries every second
				continue
			default:
				t.Fatalf("login during the flood: %d %s\n%s", resp.StatusCode, resp.Body, s.logs.String()[max(0, len(s.logs.String())-3000):])
			}
		}
		if round%5 == 4 {
			if resp := s.logoutWith(t, cur.Refresh); resp.StatusCode >= 300 {
				t.Fatalf("logout: %d %s", resp.StatusCode, resp.Body)
			}
			cur = nil
			continue
		}
		resp := s.refreshWith(t, cur.Refresh)
		if resp.StatusCode != 200 {
			cur = nil // ended by an escalation: log in again
			continue
		}
		tk := s.readTokens(t, resp)
		cur = &tk
		held = append(held, tk.Access)
		if resp := call(t, s.revocation, formEvent(t, "token-revocation", url.Values{"token": {tk.Access}})); resp.StatusCode != 200 {
			t.Fatalf("RFC 7009 revocation: %d %s", resp.StatusCode, resp.Body)
		}
	}
	items, err := env.Store.RevocationsSince(ctx, start.Add(-time.Second), s.clock.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("20 s flood: %d tokens obtained, %d logins refused, %d feed items", len(held), refused, len(items.Entries))
	if len(items.Entries) > 60 {
		t.Errorf("one user's 20 s flood added %d feed items, want at most 60", len(items.Entries))
	}
	if got := s.metrics.Count(metrics.RevocationEscalation, nil); got < 1 {
		t.Errorf("no escalation counted (RevocationEscalation %v)", got)
	}
	if got := s.metrics.Count(metrics.RevocationFeedItems, nil); got < float64(len(items.Entries)) {
		t.Errorf("RevocationFeedItems counted %v, the feed holds %d", got, len(items.Entries))
	}
	if refused == 0 {
		t.Error("no login was refused: the budget never escalated")
	}
	// Nothing the flood obtained is still allowed: escalated revocations
	// were not dropped.
	for _, tok := range held[:len(held)-1] {
		if ok, _ := s.authorize(t, tok); ok && cur != nil && tok != cur.Access {
			t.Fatal("an access token the flood revoked (or whose session ended) is still allowed")
		}
	}

	// Escalated: login says when to come back; then it works.
	resp := call(t, s.login, loginEvent(t, "flo", "a long enough password"))
	for resp.StatusCode == 200 { // the current window not spent yet: spend it
		tk := s.readTokens(t, resp)
		s.logoutWith(t, tk.Refresh)
		resp = call(t, s.login, loginEvent(t, "flo", "a long enough password"))
	}
	if resp.StatusCode != 429 || errorCode(t, resp) != "too_many_attempts" {
		t.Fatalf("login while escalated: %d %s, want 429", resp.StatusCode, resp.Body)
	}
	wait, err := strconv.Atoi(resp.Headers["retry-after"])
	if err != nil || wait < 1 || wait > int(auth.FeedBudgetWindow/time.Second) {
		t.Fatalf("Retry-After %q, want 1-60", resp.Headers["retry-after"])
	}
	s.clock.Advance(time.Duration(wait)*time.Second - 1500*time.Millisecond)
	if resp := call(t, s.login, loginEvent(t, "flo", "a long enough password")); wait > 2 && resp.StatusCode != 429 {
		t.Fatalf("login before Retry-After: %d, want 429", resp.StatusCode)
	}
	s.clock.Advance(1500 * time.Millisecond)
	after := s.doLogin(t, "flo", "a long enough password")
	ok, authCtx := s.authorize(t, after.Access)
	if !ok {
		t.Fatal("a login after the window is denied")
	}

	// The user's logout-all afterwards: enforced at once.
	if resp := call(t, s.logoutAll, protected(t, "logout-all", authCtx)); resp.StatusCode >= 300 {
		t.Fatalf("logout-all: %d %s", resp.StatusCode, resp.Body)
	}
	if ok, _ := s.authorize(t, after.Access); ok {
		t.Error("after logout-all the access token is still allowed")
	}
}

// TestOperatorRevocationsAreNotBudgeted: the console's revoke function
// writes every revocation it is asked for, however many, as itself.
func TestOperatorRevocationsAreNotBudgeted(t *testing.T) {
	env := testenv.New(t)
	s := newService(t, env)
	ctx := context.Background()
	for i := range auth.FeedBudgetPerUser + 5 {
		res, err := s.revoke(ctx, []byte(`{"jti":"op-`+strconv.Itoa(i)+`"}`))
		if err != nil || res.Revoked != "token" {
			t.Fatalf("revoke %d: %+v %v", i, res, err)
		}
	}
	if got := s.metrics.Count(metrics.RevocationEscalation, nil); got != 0 {
		t.Errorf("operator revocations escalated %v times", got)
	}
	items, err := env.Store.RevocationsSince(ctx, s.clock.Now().Add(-time.Second), s.clock.Now().Add(time.Second))
	if err != nil || len(items.Entries) != auth.FeedBudgetPerUser+5 {
		t.Errorf("%d feed items (%v), want %d", len(items.Entries), err, auth.FeedBudgetPerUser+5)
	}
}
