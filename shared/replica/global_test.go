package replica

import (
	"context"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
)

// TestGlobalCutoffInTheView: the global entry (all#*) from the feed covers
// every user's tokens of sessions started at or before its cutoff, and
// none started after; it is returned for any token (a map lookup under
// auth.AllValue); a later cutoff merges in; it leaves the view once no
// token it covers can be alive, unless it has no cutoff.
func TestGlobalCutoffInTheView(t *testing.T) {
	r, f, c := newTest(t)
	before := c.Now()
	c.Advance(time.Second)
	f.write(auth.NewRevocation(auth.RevokeAll, auth.AllValue, c.Now(), "key compromised"))
	cutoff := c.Now()
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"u1", "u2", "anyone"} {
		if !revoked(t, r, "j-"+user, "s-"+user, user, before, c.Now()) {
			t.Fatalf("%s: a session started before the global cutoff is not covered", user)
		}
		if !revoked(t, r, "j-"+user, "s-"+user, user, cutoff, c.Now()) {
			t.Fatalf("%s: a session started at the global cutoff is not covered", user)
		}
		if revoked(t, r, "j-"+user, "s-"+user, user, cutoff.Add(time.Millisecond), c.Now()) {
			t.Fatalf("%s: a session started after the global cutoff (a new login) is covered", user)
		}
	}
	// A second cutoff a minute later moves it.
	c.Advance(time.Minute)
	f.write(auth.NewRevocation(auth.RevokeAll, auth.AllValue, c.Now(), "again"))
	second := c.Now()
	c.Advance(1001 * time.Millisecond)
	if !revoked(t, r, "j", "s", "u1", cutoff.Add(time.Second), c.Now()) {
		t.Fatal("a later global cutoff did not move the view's")
	}
	if r.Len() != 1 {
		t.Fatalf("%d entries after two cutoffs, want one merged global entry", r.Len())
	}
	// Once every token it covers has expired, it has done its work.
	c.Advance(window + 5*time.Second + writeBound + time.Second - c.Now().Sub(second))
	if _, err := r.Revocations(context.Background(), "j", "s", "u"); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 0 {
		t.Fatalf("%d entries past the window after the cutoff, want none", r.Len())
	}
	// One typed by hand without cutoff stays in a warm view while it is in
	// force.
	f.write(auth.Revocation{Kind: auth.RevokeAll, Value: auth.AllValue, ExpiresAt: c.Now().Add(2 * window)})
	for range 17 {
		c.Advance(time.Minute)
		if _, err := r.Revocations(context.Background(), "j", "s", "u"); err != nil {
			t.Fatal(err)
		}
	}
	if !revoked(t, r, "j", "s", "u1", c.Now(), c.Now()) || r.Len() != 1 {
		t.Fatalf("a global entry without cutoff left the view while in force (%d entries)", r.Len())
	}
}
