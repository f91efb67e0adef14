package auth

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/token"
)

// claimsVerifier accepts any token as c.
type claimsVerifier struct{ c token.Claims }

func (v claimsVerifier) Verify(string) (*token.Claims, error) { c := v.c; return &c, nil }

// deadlineLookup records the deadline each lookup had, and finds nothing.
type deadlineLookup struct {
	deadline time.Time
	had      bool
}

func (l *deadlineLookup) Revocations(ctx context.Context, _, _, _ string) ([]Revocation, error) {
	l.deadline, l.had = ctx.Deadline()
	return nil, nil
}

func (l *deadlineLookup) Window() time.Duration { return 0 }

// TestAuthorizerLookupTimeout: the lookup timeout is the authorizer's own
// setting: a positive one bounds every lookup (strict mode: a read of the
// table), 0 adds no deadline (a replica, which bounds its own reads).
func TestAuthorizerLookupTimeout(t *testing.T) {
	c := token.Claims{SessionID: newSessionID(t0)}
	c.ID, c.Subject = "j1", "u1"
	for _, tc := range []struct {
		timeout      time.Duration
		wantDeadline bool
	}{{800 * time.Millisecond, true}, {0, false}} {
		lookup := &deadlineLookup{}
		a := NewAuthorizer(claimsVerifier{c}, lookup, tc.timeout, Options{Now: (&testClock{t: t0}).Now})
		before := time.Now()
		if _, err := a.Authorize(context.Background(), "a token"); err != nil {
			t.Fatal(err)
		}
		if lookup.had != tc.wantDeadline {
			t.Fatalf("timeout %v: the lookup had a deadline: %v, want %v", tc.timeout, lookup.had, tc.wantDeadline)
		}
		if tc.wantDeadline && lookup.deadline.After(before.Add(tc.timeout+time.Second)) {
			t.Fatalf("timeout %v: lookup deadline %v, more than the timeout away", tc.timeout, lookup.deadline.Sub(before))
		}
	}
}

// TestFlowsRequireTheirDependencies: a flow built without one of its
// dependencies stops at construction (a function's init), naming the flow,
// instead of failing a request later with a nil pointer.
func TestFlowsRequireTheirDependencies(t *testing.T) {
	store := newMemStore(nil)
	o := Options{Logger: slog.New(slog.DiscardHandler)}
	revoker := testRevoker(store, o)
	issuer := NewAccessIssuer(fakeSigner{}, o)
	var noRevoker *Revoker
	var noStore Sessions
	var noBudget FeedBudget
	for name, build := range map[string]func(){
		"Login": func() {
			NewLogin(store, store, noRevoker, issuer, testMAC, Passwords{Verify: func(string, string) (bool, error) { return false, nil }, Dummy: "x"}, NoMetrics{}, o)
		},
		"Refresh":            func() { NewRefresh(noStore, revoker, issuer, testMAC, o) },
		"Logout":             func() { NewLogout(store, noRevoker, o) },
		"LogoutAll":          func() { NewLogoutAll(noRevoker, o) },
		"Revoke":             func() { NewRevoke(noStore, revoker, o) },
		"Authorizer":         func() { NewAuthorizer(nil, store, 0, o) },
		"SessionEnd":         func() { NewSessionEnd(store, noRevoker, o) },
		"SessionList":        func() { NewSessionList(nil, o) },
		"TokenRevocation":    func() { NewTokenRevocation(nil, store, revoker, o) },
		"TokenIntrospection": func() { NewTokenIntrospection(nil, o) },
		"Revoker":            func() { NewRevoker(store, noBudget, NoMetrics{}, o) },
		// The MAC key is checked too: successors and throttle keys need it.
		"Refresh: the MAC key": func() { NewRefresh(store, revoker, issuer, nil, o) },
	} {
		func() {
			defer func() {
				msg, _ := recover().(string)
				if flow, _, _ := strings.Cut(name, ":"); !strings.Contains(msg, "New"+flow) {
					t.Errorf("%s: built without a dependency (panic %q)", name, msg)
				}
			}()
			build()
		}()
	}
}
