package replica

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// gatedFeed is memFeed whose calls wait until the gate opens.
type gatedFeed struct {
	*memFeed
	entered chan struct{}
	gate    chan struct{}
}

func (f gatedFeed) RevocationsSince(ctx context.Context, from, to time.Time) (Batch, error) {
	f.entered <- struct{}{}
	<-f.gate
	return f.memFeed.RevocationsSince(ctx, from, to)
}

// TestQueuedLookupsShareAFailedSync: requests that queued behind a sync
// that failed share its outcome instead of each running a sync of their
// own, one after another (in shared/guard, hundreds of requests waiting
// minutes during an outage); and the staleness bound is measured when the
// decision is made, after the wait, so a request that waited past the
// bound is refused (found by review).
func TestQueuedLookupsShareAFailedSync(t *testing.T) {
	c := &clock{t: t0}
	f := &memFeed{clock: c}
	g := gatedFeed{memFeed: f, entered: make(chan struct{}, 100), gate: make(chan struct{})}
	r := New(g, Options{SyncInterval: time.Second, MaxStaleness: 10 * time.Second, Window: window,
		Overlap: 5 * time.Second, Now: c.Now, Logger: slog.New(slog.DiscardHandler)})
	close(g.gate) // the cold load goes through
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-g.entered
	g.gate = make(chan struct{})
	r.feed = g
	f.fail = errors.New("DynamoDB does not answer")
	c.Advance(2 * time.Second) // a sync is due

	const n = 20
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := r.Revocations(context.Background(), "j", "s", "u")
			errs <- err
		})
	}
	<-g.entered // one sync in flight; the others queue behind it
	time.Sleep(50 * time.Millisecond)
	c.Advance(time.Minute) // the outage outlasts the bound while they wait
	close(g.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrStale) {
			t.Errorf("a lookup decided %s after the last good sync (bound 10s): %v, want ErrStale", time.Minute+2*time.Second, err)
		}
	}
	if calls := f.calls(); calls != 2 { // the cold load and the one failed sync
		t.Errorf("%d feed calls, want 2: the queued lookups ran syncs of their own", calls)
	}
}
