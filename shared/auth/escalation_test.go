package auth

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// spentBudget is a FeedBudget whose window is spent until end.
type spentBudget struct{ end time.Time }

func (b spentBudget) TakeFeedBudget(context.Context, string, string, time.Time) (bool, time.Time, error) {
	return false, b.end, nil
}

// TestEscalationCoversARacingSession: an escalated revocation replaces the
// one asked for with a user entry, so that entry must cover the session
// the request named even when another function, whose clock runs a few
// milliseconds ahead, started it at the very end of the budget window.
func TestEscalationCoversARacingSession(t *testing.T) {
	end := time.Unix(1_800_000_060, 0)
	clock := &testClock{t: end.Add(-time.Millisecond)} // the request, a millisecond before the window ends
	store := newMemStore(&User{Username: "alice", ID: "u1", PasswordHash: "hash"})
	o := Options{Now: clock.Now, Logger: slog.New(slog.DiscardHandler)}
	svc := NewLogoutAll(NewRevoker(store, spentBudget{end: end}, NoMetrics{}, o), o)
	if _, err := svc.LogoutAll(context.Background(), "u1"); err != nil {
		t.Fatal(err)
	}
	entries, err := store.UserRevocations(context.Background(), "u1")
	if err != nil || len(entries) != 1 {
		t.Fatalf("user entries %+v %v, want the escalated one", entries, err)
	}
	racing := Target{UserID: "u1", SessionStart: end.Add(5 * time.Millisecond)}
	if !entries[0].Covers(racing, end) {
		t.Errorf("escalated entry %+v does not cover a session started 5 ms after the window's end", entries[0])
	}
	if got, want := entries[0].RevokedAt, end.Add(escalationMargin); !got.Equal(want) {
		t.Errorf("escalated cutoff %v, want the window's end plus the margin, %v", got, want)
	}
}
