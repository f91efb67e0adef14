package app_test

import (
	"fmt"
	"testing"

	"github.com/authkit/lambda-auth/scripts/testenv"
)

// TestAWSCallsPerOperation counts the AWS calls each operation makes (SDK
// middleware, every attempt on the wire) and fails above the budget.
func TestAWSCallsPerOperation(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "bob", "a long enough password")
	s := newService(t, env)

	s.calls.Reset()
	tok := s.doLogin(t, "bob", "a long enough password")
	if got := s.calls.Op("KMS.Sign"); got != 1 || s.calls.Service("KMS") != 1 {
		t.Errorf("login: %s, want exactly 1 KMS call (Sign)", s.calls)
	}
	// Read the user, count the attempt (before any password work, so
	// parallel guesses cannot outrun the lockout), write the session, clear
	// the attempts.
	if got := s.calls.Service("DynamoDB"); got > 4 {
		t.Errorf("login: %s, want at most 4 DynamoDB calls", s.calls)
	}

	// The authorizer on a warm container: no KMS, one DynamoDB call.
	s.authorize(t, tok.Access) // warm
	s.calls.Reset()
	if ok, _ := s.authorize(t, tok.Access); !ok {
		t.Fatal("denied")
	}
	if s.calls.Service("KMS") != 0 || s.calls.Service("DynamoDB") != 1 || s.calls.Op("DynamoDB.BatchGetItem") != 1 {
		t.Errorf("authorizer: %s, want DynamoDB.BatchGetItem=1 and nothing else", s.calls)
	}

	s.calls.Reset()
	resp := s.refreshWith(t, tok.Refresh)
	if resp.StatusCode != 200 {
		t.Fatalf("refresh: %d %s", resp.StatusCode, resp.Body)
	}
	if s.calls.Op("KMS.Sign") != 1 || s.calls.Service("KMS") != 1 || s.calls.Service("DynamoDB") > 3 {
		t.Errorf("refresh: %s, want KMS.Sign=1 and at most 3 DynamoDB calls", s.calls)
	}

	// Reuse detection stays within the refresh budget too.
	s.clock.Advance(60e9)
	s.calls.Reset()
	if resp := s.refreshWith(t, tok.Refresh); resp.StatusCode != 401 {
		t.Fatalf("reuse: %d", resp.StatusCode)
	}
	if s.calls.Service("KMS") != 0 || s.calls.Service("DynamoDB") > 3 {
		t.Errorf("refresh reuse: %s, want no KMS and at most 3 DynamoDB calls", s.calls)
	}
}

// TestLogoutAllCostIsConstant: logging out of every device costs the same
// whatever the number of sessions (no scan, no per-session loop).
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
	if counts[1] != counts[12] || counts[1] != "DynamoDB.PutItem=1" {
		t.Errorf("logout-all calls: %s", fmt.Sprint(counts))
	}
}
