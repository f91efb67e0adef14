package app_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
)

// failOnce makes the next call of one store method fail, as a throttled or
// unreachable DynamoDB would.
type failOnce struct {
	*dynamo.Store
	mu       sync.Mutex
	failPut  bool
	failEnd  bool
	failures int
}

func (f *failOnce) PutRevocation(ctx context.Context, r auth.Revocation) error {
	f.mu.Lock()
	fail := f.failPut
	f.failPut = false
	f.mu.Unlock()
	if fail {
		f.failures++
		return context.DeadlineExceeded
	}
	return f.Store.PutRevocation(ctx, r)
}

func (f *failOnce) EndSession(ctx context.Context, id, reason string, at time.Time) error {
	f.mu.Lock()
	fail := f.failEnd
	f.failEnd = false
	f.mu.Unlock()
	if fail {
		f.failures++
		return context.DeadlineExceeded
	}
	return f.Store.EndSession(ctx, id, reason, at)
}

// TestEndingASessionCompletesOnRetry: whichever of the two writes that end a
// session fails, the caller gets 503 and a retry finishes the job: the
// session's access tokens end up revoked.
func TestEndingASessionCompletesOnRetry(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "rita", "a long enough password")
	s := newService(t, env)
	ctx := context.Background()

	for _, fail := range []string{"revocation entry", "session mark"} {
		t.Run(fail, func(t *testing.T) {
			tok := s.doLogin(t, "rita", "a long enough password")
			f := &failOnce{Store: env.Store, failPut: fail == "revocation entry", failEnd: fail == "session mark"}
			o := auth.Options{Now: s.clock.Now}
			svc := auth.NewLogout(f, auth.NewRevoker(f, f, auth.NoMetrics{}, o), o)
			if err := svc.Logout(ctx, tok.Refresh); err == nil || f.failures != 1 {
				t.Fatalf("first logout: %v (failures injected: %d)", err, f.failures)
			}
			if err := svc.Logout(ctx, tok.Refresh); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if ok, _ := s.authorize(t, tok.Access); ok {
				t.Error("access token allowed after a retried logout")
			}
			if resp := s.refreshWith(t, tok.Refresh); resp.StatusCode != 401 {
				t.Errorf("refresh after a retried logout: %d", resp.StatusCode)
			}
		})
	}
}

// TestEndSessionRevocationFirst: ending a session writes the revocation
// entry before marking the session, so a failure in between never leaves a
// session marked ended while its access tokens still pass.
func TestEndSessionRevocationFirst(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "tess", "a long enough password")
	s := newService(t, env)
	ctx := context.Background()
	tok := s.doLogin(t, "tess", "a long enough password")

	f := &failOnce{Store: env.Store, failPut: true}
	o := auth.Options{Now: s.clock.Now}
	svc := auth.NewLogout(f, auth.NewRevoker(f, f, auth.NoMetrics{}, o), o)
	if err := svc.Logout(ctx, tok.Refresh); err == nil {
		t.Fatal("logout with a failing revocation write succeeded")
	}
	sess, err := env.Store.Session(ctx, tok.Refresh[:32])
	if err != nil {
		t.Fatal(err)
	}
	// The failed write came first, so nothing else happened: the session is
	// not marked ended while its access token would still pass.
	if !sess.RevokedAt.IsZero() {
		t.Fatal("session marked ended although its revocation entry was not written")
	}
	if ok, _ := s.authorize(t, tok.Access); !ok {
		t.Fatal("access token denied although nothing was revoked")
	}
}
