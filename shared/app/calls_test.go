package app_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
)

// TestAWSCallsPerOperation counts the AWS calls each operation makes (SDK
// middleware, every attempt on the wire) and fails above the budget.
func TestAWSCallsPerOperation(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "bob", "a long enough password")
	// The replica reads the feed at its own interval here, not before every
	// decision: that is what is counted.
	s := newServiceByInterval(t, env, nil)

	s.calls.Reset()
	tok := s.doLogin(t, "bob", "a long enough password")
	if got := s.calls.Op("KMS.Sign"); got != 1 || s.calls.Service("KMS") != 1 {
		t.Errorf("login: %s, want exactly 1 KMS call (Sign)", s.calls)
	}
	// Read the user, count the attempt (before any password work, so
	// parallel guesses cannot outrun the lockout), clear the attempts, read
	// the user's revocation entry (a banned user gets no session), read
	// the user's second factor (none here: the password alone signs in),
	// write the session.
	if got := s.calls.Service("DynamoDB"); got > 6 {
		t.Errorf("login: %s, want at most 6 DynamoDB calls", s.calls)
	}

	// The authorizer on a warm container: no KMS; strict mode one
	// DynamoDB call, replica mode none within the sync interval and one
	// Query after it.
	s.authorize(t, tok.Access) // warm
	s.calls.Reset()
	if ok, _ := s.authorize(t, tok.Access); !ok {
		t.Fatal("denied")
	}
	if env.Getenv("REVOCATION_MODE") == "strict" {
		if s.calls.Service("KMS") != 0 || s.calls.Service("DynamoDB") != 1 || s.calls.Op("DynamoDB.BatchGetItem") != 1 {
			t.Errorf("authorizer: %s, want DynamoDB.BatchGetItem=1 and nothing else", s.calls)
		}
	} else {
		if s.calls.Service("KMS") != 0 || s.calls.Service("DynamoDB") != 0 {
			t.Errorf("authorizer within the sync interval: %s, want no call", s.calls)
		}
		s.clock.Advance(1100 * time.Millisecond)
		s.authorize(t, tok.Access)
		if s.calls.Service("KMS") != 0 || s.calls.Service("DynamoDB") != 1 || s.calls.Op("DynamoDB.Query") != 1 {
			t.Errorf("authorizer after the sync interval: %s, want DynamoDB.Query=1 and nothing else", s.calls)
		}
	}

	s.calls.Reset()
	resp := s.refreshWith(t, tok.Refresh)
	if resp.StatusCode != 200 {
		t.Fatalf("refresh: %d %s", resp.StatusCode, resp.Body)
	}
	if s.calls.Op("KMS.Sign") != 1 || s.calls.Service("KMS") != 1 || s.calls.Service("DynamoDB") > 3 {
		t.Errorf("refresh: %s, want KMS.Sign=1 and at most 3 DynamoDB calls", s.calls)
	}

	// Reuse detection: read the session, count the user's revocation
	// budget, revoke it (the entry, its feed item in two buckets), mark it
	// ended.
	s.clock.Advance(60e9)
	s.calls.Reset()
	if resp := s.refreshWith(t, tok.Refresh); resp.StatusCode != 401 {
		t.Fatalf("reuse: %d", resp.StatusCode)
	}
	if s.calls.Service("KMS") != 0 || s.calls.Service("DynamoDB") > 6 {
		t.Errorf("refresh reuse: %s, want no KMS and at most 6 DynamoDB calls", s.calls)
	}
}

// TestLogoutAllCostIsConstant: logging out of every device costs the same
// whatever the number of sessions (no scan, no per-session loop): the
// user's revocation budget counted, the user entry and its feed item (two
// buckets).
func TestLogoutAllCostIsConstant(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "carol", "a long enough password")
	s := newService(t, env)

	counts := map[int]string{}
	for _, sessions := range []int{1, 12} {
		var last tokens
		for range sessions {
			last = s.doLogin(t, "carol", "a long enough password")
		}
		ok, authCtx := s.authorize(t, last.Access)
		if !ok {
			t.Fatal("denied")
		}
		s.calls.Reset()
		if resp := call(t, s.logoutAll, protected(t, "logout-all", authCtx)); resp.StatusCode != 204 {
			t.Fatalf("logout-all: %d %s", resp.StatusCode, resp.Body)
		}
		counts[sessions] = s.calls.String()
		if ok, _ := s.authorize(t, last.Access); ok {
			t.Fatalf("token allowed after logout-all with %d sessions", sessions)
		}
		s.clock.Advance(1e9)
	}
	if counts[1] != counts[12] || counts[1] != "DynamoDB.PutItem=3 DynamoDB.UpdateItem=1" {
		t.Errorf("logout-all calls: %s", fmt.Sprint(counts))
	}
}
