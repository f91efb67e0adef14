package replica

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
)

// TestColdLoadFromSnapshot: a cold load reads the snapshot, then the feed
// from the snapshot's watermark only (not the whole window), and the view
// holds both; a snapshot pruned for a shorter window than the replica's
// is not used (the whole window is read).
func TestColdLoadFromSnapshot(t *testing.T) {
	for _, tt := range []struct {
		name    string
		snapWin time.Duration
		use     bool
	}{{"same window", window, true}, {"longer window", window + time.Hour, true}, {"shorter window", window - time.Minute, false}} {
		t.Run(tt.name, func(t *testing.T) {
			r, f, c := newTest(t)
			c.Advance(10 * time.Minute)
			mark := c.Now().Add(-40 * time.Second)
			f.snap = Snapshot{Batch: Batch{Entries: []auth.Revocation{
				auth.NewRevocation(auth.RevokeUser, "u-old", c.Now().Add(-5*time.Minute), "logout-all"),
			}}, Watermark: mark, Window: tt.snapWin, ID: "g1"}
			f.write(auth.NewRevocation(auth.RevokeToken, "j-tail", c.Now(), "leak"))
			if err := r.Load(context.Background()); err != nil {
				t.Fatal(err)
			}
			from := f.queries[0]
			if tt.use {
				if !from.Equal(mark) {
					t.Fatalf("the tail read from %v, want the snapshot's watermark %v", from.Sub(t0), mark.Sub(t0))
				}
				if !revoked(t, r, "j", "s", "u-old", t0, c.Now()) {
					t.Fatal("the snapshot's entry is not in the view")
				}
				if st := r.Stats(); st.Snapshots != 1 || st.SnapshotID != "g1" || st.Items != 1 {
					t.Fatalf("stats %+v, want one snapshot (g1) and one feed item", st)
				}
			} else if want := c.Now().Add(-window - 5*time.Second); from.After(want) {
				t.Fatalf("with a snapshot for a shorter window the load read from %v, want the whole window (%v)", from.Sub(t0), want.Sub(t0))
			}
			if !revoked(t, r, "j-tail", "s", "u", t0, c.Now()) {
				t.Fatal("the tail's entry is not in the view")
			}
		})
	}
}

// TestIdleCatchUpFromSnapshot: a replica idle for longer than
// SnapshotAfter reads the snapshot when it is newer than its watermark,
// and the tail from there; one idle for less reads the tail alone.
func TestIdleCatchUpFromSnapshot(t *testing.T) {
	r, f, c := newTest(t)
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	loads := f.snapCalls
	c.Advance(30 * time.Second) // under SnapshotAfter (1 min)
	r.Revocations(context.Background(), "x", "y", "z")
	if f.snapCalls != loads {
		t.Fatalf("a replica idle 30 s read the snapshot")
	}
	c.Advance(3 * time.Minute)
	f.write(auth.NewRevocation(auth.RevokeSession, "s-idle", c.Now().Add(-2*time.Minute), "logout"))
	f.snap = Snapshot{Batch: Batch{Entries: []auth.Revocation{auth.NewRevocation(auth.RevokeSession, "s-idle", c.Now().Add(-2*time.Minute), "logout")}},
		Watermark: c.Now().Add(-50 * time.Second), Window: window, ID: "g2"}
	r.Revocations(context.Background(), "x", "y", "z")
	if f.snapCalls != loads+1 {
		t.Fatalf("a replica idle 3 minutes read the snapshot %d times, want once", f.snapCalls-loads)
	}
	if got := f.queries[len(f.queries)-1]; !got.Equal(f.snap.Watermark) {
		t.Fatalf("after the snapshot the tail read from %v, want its watermark %v", got.Sub(t0), f.snap.Watermark.Sub(t0))
	}
	if !revoked(t, r, "j", "s-idle", "u", t0, c.Now()) {
		t.Fatal("a logout written while the replica idled is unseen")
	}
}

// TestUnreadableSnapshotReadsTheFeed: a snapshot that cannot be read (a
// shared/guard role that may only Query the feed, a malformed part) does
// not fail the cold load: the whole window of the feed is read instead.
func TestUnreadableSnapshotReadsTheFeed(t *testing.T) {
	r, f, c := newTest(t)
	f.snapFail = errors.New("AccessDeniedException: dynamodb:GetItem")
	f.write(auth.NewRevocation(auth.RevokeToken, "j1", c.Now(), "leak"))
	c.Advance(time.Minute)
	if err := r.Load(context.Background()); err != nil {
		t.Fatalf("cold load with an unreadable snapshot: %v", err)
	}
	if want := c.Now().Add(-window - 5*time.Second); f.queries[0].After(want) {
		t.Fatalf("read from %v, want the whole window (%v)", f.queries[0].Sub(t0), want.Sub(t0))
	}
	if !revoked(t, r, "j1", "s", "u", t0, c.Now()) {
		t.Fatal("the feed's entry is not in the view")
	}
}
