package replica

import (
	"context"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
)

// ctxFeed is memFeed that fails as a real Query does when its context is
// done.
type ctxFeed struct{ *memFeed }

func (f ctxFeed) RevocationsSince(ctx context.Context, from, to time.Time) (Batch, error) {
	if err := ctx.Err(); err != nil {
		f.mu.Lock()
		f.queries = append(f.queries, from)
		f.mu.Unlock()
		return Batch{}, err
	}
	return f.memFeed.RevocationsSince(ctx, from, to)
}

// TestCanceledCallerDoesNotStallSync: a sync runs for every request that
// relies on it, not on the context of the request that happens to trigger
// it. In shared/guard that is r.Context(), which net/http cancels when the
// client hangs up: a client sending a request and hanging up after each
// sync interval must not make every sync fail and keep a revocation
// unseen (found by review).
func TestCanceledCallerDoesNotStallSync(t *testing.T) {
	c := &clock{t: t0}
	f := &memFeed{clock: c}
	r := New(ctxFeed{f}, Options{SyncInterval: time.Second, MaxStaleness: time.Minute, Window: window,
		Overlap: 5 * time.Second, Now: c.Now})
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Advance(100 * time.Millisecond)
	f.write(auth.NewRevocation(auth.RevokeToken, "stolen-jti", c.Now(), "leak"))

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	c.Advance(time.Second)
	r.Revocations(canceled, "attacker-jti", "s", "u") // the attacker's aborted request syncs
	if !revoked(t, r, "stolen-jti", "s", "u", t0, c.Now()) {
		t.Fatal("a revocation written before the sync is unseen: the sync ran on an aborted request's context")
	}
}
