package replica

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
)

var t0 = time.UnixMilli(1_796_000_000_000)

// memFeed is the feed in memory: what was written when, and what was asked.
// Its answers carry the store's clock as DynamoDB's Date header does
// (rounded down to the second), from storeClock (clock when nil), unless
// noDate.
type memFeed struct {
	mu         sync.Mutex
	items      []fed
	fail       error
	queries    []time.Time // the from of every call
	tos        []time.Time // the to of every call
	clock      *clock
	storeClock func() time.Time
	noDate     bool
	snap       Snapshot
	snapFail   error // Snapshot's error alone
	snapCalls  int
}

type fed struct {
	at time.Time
	e  auth.Revocation
}

func (f *memFeed) write(e auth.Revocation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items = append(f.items, fed{f.clock.Now(), e})
}

func (f *memFeed) date() time.Time {
	if f.noDate {
		return time.Time{}
	}
	now := f.clock.Now
	if f.storeClock != nil {
		now = f.storeClock
	}
	return now().Truncate(time.Second)
}

func (f *memFeed) RevocationsSince(_ context.Context, from, to time.Time) (Batch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries, f.tos = append(f.queries, from), append(f.tos, to)
	if f.fail != nil {
		return Batch{}, f.fail
	}
	out := Batch{StoreTime: f.date()}
	for _, it := range f.items {
		if !it.at.Before(from) {
			out.Entries = append(out.Entries, it.e)
			if it.at.After(out.Newest) {
				out.Newest = it.at
			}
		}
	}
	return out, nil
}

func (f *memFeed) Snapshot(context.Context) (Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snapCalls++
	if f.fail != nil {
		return Snapshot{}, f.fail
	}
	if f.snapFail != nil {
		return Snapshot{}, f.snapFail
	}
	s := f.snap
	s.StoreTime = f.date()
	return s, nil
}

func (f *memFeed) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queries)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const window = 15*time.Minute + 10*time.Second

func newTest(t *testing.T) (*Replica, *memFeed, *clock) {
	t.Helper()
	c := &clock{t: t0}
	f := &memFeed{clock: c}
	r := New(f, Options{SyncInterval: time.Second, MaxStaleness: time.Minute, Window: window,
		Overlap: 5 * time.Second, Now: c.Now, Logger: slog.New(slog.DiscardHandler)})
	return r, f, c
}

func revoked(t *testing.T, r *Replica, jti, sid, sub string, start time.Time, now time.Time) bool {
	t.Helper()
	got, err := r.Revocations(context.Background(), jti, sid, sub)
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	for _, e := range got {
		if e.Covers(auth.Target{TokenID: jti, SessionID: sid, UserID: sub, SessionStart: start}, now) {
			return true
		}
	}
	return false
}

// TestColdLoad: a cold start reads the last Window (plus Overlap) of the
// feed, nothing older is needed, and lookups within SyncInterval read
// nothing.
func TestColdLoad(t *testing.T) {
	r, f, c := newTest(t)
	f.write(auth.NewRevocation(auth.RevokeSession, "s-old", c.Now(), "logout"))
	c.Advance(time.Minute)
	f.write(auth.NewRevocation(auth.RevokeToken, "j1", c.Now(), "leak"))
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := f.queries[0], c.Now().Add(-window-5*time.Second); !got.Equal(want) {
		t.Fatalf("cold load read from %v, want now - window - overlap (%v)", got, want)
	}
	for range 100 {
		if !revoked(t, r, "j1", "s", "u", t0, c.Now()) || !revoked(t, r, "j", "s-old", "u", t0, c.Now()) {
			t.Fatal("an entry of the feed is missing from the view")
		}
	}
	if f.calls() != 1 {
		t.Fatalf("%d feed reads for 200 lookups within the sync interval, want the load only", f.calls())
	}
}

// TestNeverOlderThanTheSyncInterval: while the feed answers, an entry
// written at t is seen by every lookup after t + SyncInterval, and each
// sync reads from further on than the previous one (TestLateFeedItemsAreSeen
// checks how far back).
func TestNeverOlderThanTheSyncInterval(t *testing.T) {
	r, f, c := newTest(t)
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	step := 137 * time.Millisecond // not a divisor of the interval
	for i := range 200 {
		c.Advance(step)
		if i%7 == 0 {
			f.write(auth.NewRevocation(auth.RevokeToken, "j"+string(rune('a'+i%26))+time.Duration(i).String(), c.Now(), "x"))
		}
		now := c.Now()
		for _, it := range f.items {
			if now.Sub(it.at) > time.Second && !revoked(t, r, it.e.Value, "s", "u", t0, now) {
				t.Fatalf("at +%v an entry written at +%v is not in the view", now.Sub(t0), it.at.Sub(t0))
			}
		}
		r.Revocations(context.Background(), "x", "y", "z")
	}
	// About one read per interval: 200 steps of 137 ms are 27 s.
	if n := f.calls(); n < 20 || n > 30 {
		t.Errorf("%d feed reads in 27 s at a 1 s interval", n)
	}
	for i := 2; i < len(f.queries); i++ {
		if f.queries[i].Sub(f.queries[i-1]) <= 0 {
			t.Fatalf("read %d from %v, not after the previous from %v", i, f.queries[i], f.queries[i-1])
		}
	}
}

// TestLateFeedItemsAreSeen: a feed item may become visible after a sync
// read past its stamp (a slow write, a writer's clock behind the
// reader's), by less than Overlap: the next sync, which reads back from
// the previous one's start minus Overlap, sees it.
func TestLateFeedItemsAreSeen(t *testing.T) {
	r, f, c := newTest(t)
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Advance(1100 * time.Millisecond)
	r.Revocations(context.Background(), "x", "y", "z") // a sync at t0+1.1s
	prev := c.Now()
	// Stamped 3 s ago by its writer, visible only now.
	f.mu.Lock()
	f.items = append(f.items, fed{c.Now().Add(-3 * time.Second), auth.NewRevocation(auth.RevokeToken, "late", c.Now().Add(-3*time.Second), "x")})
	f.mu.Unlock()
	c.Advance(1100 * time.Millisecond)
	if !revoked(t, r, "late", "s", "u", t0, c.Now()) {
		t.Fatal("an item that became visible 3 s after its stamp (Overlap 5 s) is not in the view")
	}
	f.mu.Lock()
	from := f.queries[len(f.queries)-1]
	f.mu.Unlock()
	// From the previous sync's start (the store's clock, a Date rounded
	// down to the second) less Overlap: not the whole window again.
	if lo, hi := prev.Add(-6*time.Second), prev.Add(-5*time.Second); from.Before(lo) || from.After(hi) {
		t.Errorf("the sync read from %v, want the previous sync's start less Overlap (%v to %v)", from.Sub(t0), lo.Sub(t0), hi.Sub(t0))
	}
}

// TestOutage: when the feed fails, the last view decides for up to
// MaxStaleness (revocations it holds still deny), a failed sync is tried
// again once per interval, and past the bound every lookup fails.
func TestOutage(t *testing.T) {
	r, f, c := newTest(t)
	f.write(auth.NewRevocation(auth.RevokeUser, "u1", c.Now(), "logout-all"))
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.fail = errors.New("DynamoDB does not answer")
	before := f.calls()
	for range 300 { // 30 s at 100 ms
		c.Advance(100 * time.Millisecond)
		if !revoked(t, r, "j", "s", "u1", t0, c.Now()) {
			t.Fatal("a user revoked before the outage is allowed during it")
		}
		if revoked(t, r, "j", "s", "u2", t0, c.Now()) {
			t.Fatal("a valid token is denied during the outage")
		}
	}
	if n := f.calls() - before; n < 25 || n > 31 {
		t.Errorf("%d failed syncs in 30 s, want about one per second", n)
	}
	c.Advance(31 * time.Second) // past MaxStaleness (1 min) since the last good sync
	if _, err := r.Revocations(context.Background(), "j", "s", "u2"); !errors.Is(err, ErrStale) {
		t.Fatalf("past the staleness bound: %v, want ErrStale", err)
	}
	f.fail = nil
	c.Advance(time.Second)
	if _, err := r.Revocations(context.Background(), "j", "s", "u2"); err != nil {
		t.Fatalf("the feed answers again: %v", err)
	}
}

// TestNoViewNoDecision: a replica that never synced has no view: lookups
// fail until the feed answers.
func TestNoViewNoDecision(t *testing.T) {
	r, f, c := newTest(t)
	f.fail = errors.New("down")
	if err := r.Load(context.Background()); err == nil {
		t.Fatal("load succeeded against a failing feed")
	}
	for range 3 {
		if _, err := r.Revocations(context.Background(), "j", "s", "u"); !errors.Is(err, ErrStale) {
			t.Fatalf("no view: %v, want ErrStale", err)
		}
		c.Advance(400 * time.Millisecond)
	}
	f.fail = nil
	c.Advance(time.Second)
	if _, err := r.Revocations(context.Background(), "j", "s", "u"); err != nil {
		t.Fatal(err)
	}
	// The whole window, by the store's clock (its Date is rounded down).
	if got, want := f.queries[len(f.queries)-1], c.Now().Add(-window-5*time.Second); got.After(want) || got.Before(want.Add(-time.Second)) {
		t.Fatalf("first sync after a failed load read from %v, want the whole window (%v)", got, want)
	}
}

// TestMergeAndPrune: entries for one key merge; entries that can no
// longer cover an accepted token leave the view; user entries without a
// cutoff stay while in force.
func TestMergeAndPrune(t *testing.T) {
	r, f, c := newTest(t)
	f.write(auth.NewRevocation(auth.RevokeUser, "u1", c.Now(), "logout-all"))
	later := auth.NewRevocation(auth.RevokeUser, "u1", c.Now().Add(30*time.Second), "password replaced")
	f.write(later)
	f.write(auth.Revocation{Kind: auth.RevokeUser, Value: "u2", ExpiresAt: c.Now().Add(time.Hour)})
	f.write(auth.NewRevocation(auth.RevokeToken, "j1", c.Now(), "leak"))
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !revoked(t, r, "j", "s", "u1", t0.Add(20*time.Second), c.Now()) {
		t.Fatal("merged user entry lost the later cutoff")
	}
	if r.Len() != 3 {
		t.Fatalf("%d entries, want 3", r.Len())
	}
	c.Advance(window + 5*time.Second + 29*time.Second) // within the write bound (30 s)
	if _, err := r.Revocations(context.Background(), "j", "s", "u"); err != nil {
		t.Fatal(err)
	}
	if !revoked(t, r, "j1", "s", "u", c.Now(), c.Now()) {
		t.Fatal("a token entry left the view before a token minted while it was being written could expire")
	}
	c.Advance(32 * time.Second) // past the later user cutoff (30 s after t0) too
	if _, err := r.Revocations(context.Background(), "j", "s", "u"); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 1 || !revoked(t, r, "j", "s", "u2", c.Now(), c.Now()) {
		t.Fatalf("after the window: %d entries, want only the user entry without cutoff", r.Len())
	}
}

// TestConcurrentLookups: many lookups at once share one sync per interval
// (go test -race).
func TestConcurrentLookups(t *testing.T) {
	r, f, c := newTest(t)
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Advance(32 * time.Second) // past the later user cutoff (30 s after t0) too
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := r.Revocations(context.Background(), "j", "s", "u"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := f.calls(); n != 2 {
		t.Fatalf("%d feed reads, want the load and one sync", n)
	}
}
