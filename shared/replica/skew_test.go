package replica

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
)

// skewed is a replica whose clock runs skew ahead of the writers' and the
// store's (behind when negative), over memFeed, with its skew reports.
type skewed struct {
	r       *Replica
	f       *memFeed
	c       *clock
	mu      sync.Mutex
	reports []time.Duration
}

func newSkewed(t *testing.T, skew time.Duration, noDate bool) *skewed {
	t.Helper()
	s := &skewed{c: &clock{t: t0}}
	s.f = &memFeed{clock: s.c, noDate: noDate}
	s.r = New(s.f, Options{SyncInterval: time.Second, MaxStaleness: time.Minute, Window: window,
		Now: s.readerNow(skew), Logger: slog.New(slog.DiscardHandler),
		OnClockSkew: func(d time.Duration) { s.mu.Lock(); s.reports = append(s.reports, d); s.mu.Unlock() }})
	return s
}

func (s *skewed) readerNow(skew time.Duration) func() time.Time {
	return func() time.Time { return s.c.Now().Add(skew) }
}

// TestReaderClockAheadSeesRevocations: a replica whose clock runs 8 s
// ahead of the writers' (and the store's) still sees every logout while
// warm, whether the feed's answers carry the store's clock or not. Before
// the watermark came from the writers' stamps it read from its own clock
// less the overlap, and never saw an item written in the 3 s after each
// sync (found from outside against shared/guard).
func TestReaderClockAheadSeesRevocations(t *testing.T) {
	for _, noDate := range []bool{false, true} {
		s := newSkewed(t, 8*time.Second, noDate)
		if err := s.r.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			s.c.Advance(300 * time.Millisecond)
			s.r.Revocations(context.Background(), "x", "y", "z") // warm: syncs once a second
			s.c.Advance(200 * time.Millisecond)
			sid := "s" + string(rune('a'+i))
			s.f.write(auth.NewRevocation(auth.RevokeSession, sid, s.c.Now(), "logout"))
			s.c.Advance(1100 * time.Millisecond)
			if !revoked(t, s.r, "j", sid, "u", t0, s.c.Now()) {
				t.Fatalf("no Date %v: logout %d, written 1.1 s ago, unseen by a replica whose clock runs 8 s ahead", noDate, i)
			}
		}
	}
}

// TestReaderClockBehindSeesRevocations: a replica whose clock runs 8 s
// behind asks the feed for items up to the store's clock (a feed keyed by
// time reads the bucket that exists, not the one the reader's clock
// names) and sees every logout.
func TestReaderClockBehindSeesRevocations(t *testing.T) {
	s := newSkewed(t, -8*time.Second, false)
	if err := s.r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		s.c.Advance(500 * time.Millisecond)
		sid := "s" + string(rune('a'+i))
		s.f.write(auth.NewRevocation(auth.RevokeSession, sid, s.c.Now(), "logout"))
		s.c.Advance(1100 * time.Millisecond)
		if !revoked(t, s.r, "j", sid, "u", t0, s.c.Now()) {
			t.Fatalf("logout %d unseen by a replica whose clock runs 8 s behind", i)
		}
		s.f.mu.Lock()
		to := s.f.tos[len(s.f.tos)-1]
		s.f.mu.Unlock()
		if to.Before(s.c.Now()) {
			t.Fatalf("read up to %v, before the store's clock %v: a feed keyed by time misses the newest bucket", to.Sub(t0), s.c.Now().Sub(t0))
		}
	}
}

// TestReaderClockAheadPrunesOnStoreTime: a replica whose clock runs a
// minute ahead keeps an entry until it stops mattering by the store's
// clock, not its own (it would drop it a minute early, while a token it
// covers is still accepted).
func TestReaderClockAheadPrunesOnStoreTime(t *testing.T) {
	s := newSkewed(t, time.Minute, false)
	s.f.write(auth.NewRevocation(auth.RevokeToken, "j1", s.c.Now(), "leak"))
	if err := s.r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The entry matters until t0 + window + Overlap + writeBound.
	s.c.Advance(window + DefaultOverlap + writeBound - 5*time.Second)
	if !revoked(t, s.r, "j1", "s", "u", t0, s.c.Now()) {
		t.Fatal("a token entry that still matters by the store's clock left the view of a replica whose clock runs a minute ahead")
	}
	s.c.Advance(10 * time.Second)
	s.r.Revocations(context.Background(), "x", "y", "z")
	if n := s.r.Len(); n != 0 {
		t.Fatalf("%d entries past the window by the store's clock, want 0", n)
	}
}

// TestClockSkewReported: a reader clock beyond ClockSkewBound from the
// store's, ahead or behind, is reported with its sign (reader minus
// store), at most once a minute; one within the bound is not.
func TestClockSkewReported(t *testing.T) {
	for _, tt := range []struct {
		skew time.Duration
		want bool
	}{{8 * time.Second, true}, {-8 * time.Second, true}, {500 * time.Millisecond, false}, {-700 * time.Millisecond, false}} {
		s := newSkewed(t, tt.skew, false)
		if err := s.r.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		for range 90 { // 90 s of syncs
			s.c.Advance(time.Second + time.Millisecond)
			s.r.Revocations(context.Background(), "x", "y", "z")
		}
		s.mu.Lock()
		got := s.reports
		s.mu.Unlock()
		if !tt.want {
			if len(got) != 0 {
				t.Errorf("skew %v (bound 2 s) reported: %v", tt.skew, got)
			}
			continue
		}
		if len(got) != 2 { // at the load, and a minute later
			t.Fatalf("skew %v: %d reports in 90 s, want 2 (one a minute)", tt.skew, len(got))
		}
		for _, d := range got {
			if d < tt.skew-1500*time.Millisecond || d > tt.skew+1500*time.Millisecond {
				t.Errorf("skew %v reported as %v", tt.skew, d)
			}
		}
		if off, ok := s.r.ClockOffset(); !ok || off > -tt.skew || off < -tt.skew-time.Second-time.Millisecond {
			t.Errorf("skew %v: offset %v (%v), want the store's clock minus the reader's, rounded down", tt.skew, off, ok)
		}
	}
}

// TestQuietFeedWatermarkAdvances: with no item written, the watermark
// still follows the store's clock (each sync reads a few seconds of
// stamps, never back to the cold load), and an item written after a long
// quiet spell is seen at the next sync.
func TestQuietFeedWatermarkAdvances(t *testing.T) {
	r, f, c := newTest(t)
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		c.Advance(1100 * time.Millisecond)
		r.Revocations(context.Background(), "x", "y", "z")
	}
	f.mu.Lock()
	from := f.queries[len(f.queries)-1]
	f.mu.Unlock()
	if lag := c.Now().Sub(from); lag > 5*time.Second+3*time.Second {
		t.Fatalf("after 55 s of a quiet feed a sync reads %v back, want about Overlap (5 s) and a sync", lag)
	}
	f.write(auth.NewRevocation(auth.RevokeUser, "u1", c.Now(), "logout-all"))
	c.Advance(1100 * time.Millisecond)
	if !revoked(t, r, "j", "s", "u1", t0, c.Now()) {
		t.Fatal("a revocation after a quiet spell is unseen")
	}
}
