// Package replica keeps a per-process, in-memory view of the revocation
// feed, so that checking whether an access token is revoked costs a few map
// lookups instead of a DynamoDB read, and survives a DynamoDB outage for a
// bounded time.
//
// Why the last access token lifetime of the feed is enough: a verifier
// that uses a replica refuses tokens that live longer than the configured
// lifetime (token.WithMaxLifetime), so a token it accepts now was issued
// after now - Window (Window = access token lifetime + clock leeway). A
// revocation that covers it was written after it was issued: a jti is
// revoked after it exists, and a session or user cut off by a revocation
// can mint no new access token afterwards, because refresh checks the
// table itself (strongly consistent) and refuses it. So only revocations
// written in the last Window can still matter, however old the sessions
// they end. The replica reads those at a cold start, then every
// SyncInterval what was written since its last sync, overlapping by
// Overlap for writers' clock skew and late visibility.
//
// When a sync fails, decisions use the last good view for up to
// MaxStaleness, then every lookup fails (the authorizer denies). While
// DynamoDB is unreachable nobody can write a revocation either, so the
// last view lacks only what was written between its last sync and the
// outage (under SyncInterval for a process in use; the idle time for one
// that idled) and, in a partial outage, what writers still wrote.
package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
)

// Feed is the revocation feed: shared/dynamo's Store.
type Feed interface {
	// RevocationsSince returns every entry written at or after from (by
	// the writers' clocks), up to to, strongly consistent.
	RevocationsSince(ctx context.Context, from, to time.Time) ([]auth.Revocation, error)
}

// Options are a replica's settings.
type Options struct {
	// SyncInterval is the most a decision's view may lag the feed while
	// the store answers (REVOCATION_SYNC, 1 s by default).
	SyncInterval time.Duration
	// MaxStaleness is how long after its last successful sync the view
	// still decides when syncs fail (REVOCATION_MAX_STALENESS); past it
	// lookups fail.
	MaxStaleness time.Duration
	// Window is how far back a token accepted now can have been issued:
	// the access token lifetime plus twice the clock leeway (exp may be a
	// leeway in the past, and iat, by the signer's clock, a leeway in the
	// future).
	Window time.Duration
	// LoadTimeout bounds the cold load (Load); 4 s by default: it runs at
	// init, which Lambda stops at 10 s, and a failed load is not fatal
	// (lookups try again, and deny until a sync succeeds).
	LoadTimeout time.Duration
	// Overlap is how far each sync reads back before the previous one
	// began: at least the feed's lateness bound (dynamo.FeedLateness) plus
	// the clock skew between writers and readers. 5 s by default.
	Overlap time.Duration
	// SyncTimeout bounds one sync (the authorizer's store timeout).
	SyncTimeout time.Duration
	// SyncEveryLookup reads the feed before every lookup, as strict mode
	// reads the table: for tests that run every revocation rule through
	// the feed path with a clock that does not move.
	SyncEveryLookup bool
	Now             func() time.Time // nil: time.Now
	Logger          *slog.Logger     // nil: slog.Default()
}

// ErrStale is returned by lookups when the view is older than MaxStaleness
// (or there has never been one) and the store does not answer.
var ErrStale = errors.New("revocation replica: no view fresh enough")

// errRecentFailure: a sync failed less than SyncInterval ago; the next
// one is not due yet.
var errRecentFailure = errors.New("revocation replica: the last sync failed moments ago")

// Replica is the in-memory view. It is safe for concurrent use.
type Replica struct {
	feed Feed
	opt  Options

	mu       sync.RWMutex
	byKind   map[auth.RevocationKind]map[string]auth.Revocation
	synced   time.Time // when the last successful sync began: the view is complete up to it
	failedAt time.Time // when the last failed sync ended (zero after a success)

	syncing sync.Mutex // one sync at a time
}

var _ auth.BoundedLookup = (*Replica)(nil)

// New returns an empty replica over feed: until its first sync (Load, or
// the first lookup) it has no view.
func New(feed Feed, opt Options) *Replica {
	if opt.SyncInterval <= 0 {
		opt.SyncInterval = time.Second
	}
	if opt.Overlap <= 0 {
		opt.Overlap = 5 * time.Second
	}
	if opt.SyncTimeout <= 0 {
		opt.SyncTimeout = 800 * time.Millisecond
	}
	if opt.LoadTimeout <= 0 {
		opt.LoadTimeout = 4 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Replica{feed: feed, opt: opt, byKind: map[auth.RevocationKind]map[string]auth.Revocation{
		auth.RevokeToken: {}, auth.RevokeSession: {}, auth.RevokeUser: {}, auth.RevokeAll: {},
	}}
}

// Load is the cold start: it reads every bucket of the last Window (one
// Query each, in parallel). Call it at init; an error leaves the replica
// without a view, and lookups try again.
func (r *Replica) Load(ctx context.Context) error { return r.sync(ctx, true) }

// BoundsReads marks the replica as bounding its own reads (SyncTimeout):
// the service adds no deadline of its own around a lookup.
func (r *Replica) BoundsReads() {}

// Revocations returns the entries the view holds for a token's jti, sid
// and sub, and the global one (auth.RevokeAll, under auth.AllValue). It
// syncs first when the view is older than SyncInterval; when that fails it
// answers from a view no older than MaxStaleness, or fails with ErrStale.
func (r *Replica) Revocations(ctx context.Context, jti, sid, sub string) ([]auth.Revocation, error) {
	now := r.opt.Now()
	r.mu.RLock()
	synced, failedAt := r.synced, r.failedAt
	r.mu.RUnlock()
	if synced.IsZero() || now.Sub(synced) > r.opt.SyncInterval || r.opt.SyncEveryLookup {
		// A failed sync is tried again once per SyncInterval, not on every
		// request: meanwhile the view decides, within MaxStaleness.
		if failedAt.IsZero() || now.Sub(failedAt) >= r.opt.SyncInterval {
			// Not the caller's cancellation: a client that hangs up must not
			// fail the sync every other request relies on (SyncTimeout
			// bounds it).
			if err := r.sync(context.WithoutCancel(ctx), false); err != nil {
				r.opt.Logger.WarnContext(ctx, "revocation replica: sync failed", "err", err,
					"view_age", ageString(now, synced))
			}
			r.mu.RLock()
			synced = r.synced
			r.mu.RUnlock()
			// The sync may have waited for another one: the bound is
			// measured at the moment of the decision.
			now = r.opt.Now()
		}
		if synced.IsZero() || now.Sub(synced) > r.opt.MaxStaleness {
			return nil, fmt.Errorf("%w: last synced: %s, bound %s", ErrStale, ageString(now, synced), r.opt.MaxStaleness)
		}
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []auth.Revocation
	if e, ok := r.byKind[auth.RevokeToken][jti]; ok {
		out = append(out, e)
	}
	if e, ok := r.byKind[auth.RevokeSession][sid]; ok {
		out = append(out, e)
	}
	if e, ok := r.byKind[auth.RevokeUser][sub]; ok {
		out = append(out, e)
	}
	if e, ok := r.byKind[auth.RevokeAll][auth.AllValue]; ok {
		out = append(out, e)
	}
	return out, nil
}

func ageString(now, synced time.Time) string {
	if synced.IsZero() {
		return "never"
	}
	return now.Sub(synced).Round(time.Millisecond).String() + " ago"
}

// Age is how long ago the last successful sync began (the view's lag
// behind the feed); -1 when there has been none. For metrics.
func (r *Replica) Age() time.Duration {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.synced.IsZero() {
		return -1
	}
	return r.opt.Now().Sub(r.synced)
}

// sync reads the feed since the last sync (less Overlap), or the whole
// Window when cold, and merges it into the view.
func (r *Replica) sync(ctx context.Context, cold bool) error {
	r.syncing.Lock()
	defer r.syncing.Unlock()
	start := r.opt.Now()
	r.mu.RLock()
	synced, failedAt := r.synced, r.failedAt
	r.mu.RUnlock()
	if !cold && !r.opt.SyncEveryLookup {
		// Requests that waited for another's sync share its outcome: one
		// sync per interval, whether it worked or failed, however many
		// requests queued behind it.
		if !synced.IsZero() && start.Sub(synced) <= r.opt.SyncInterval {
			return nil
		}
		if !failedAt.IsZero() && start.Sub(failedAt) < r.opt.SyncInterval {
			return errRecentFailure
		}
	}
	from := synced.Add(-r.opt.Overlap)
	if synced.IsZero() || cold || start.Sub(synced) > r.opt.Window {
		from = start.Add(-r.opt.Window - r.opt.Overlap)
	}
	timeout := r.opt.SyncTimeout
	if cold {
		timeout = r.opt.LoadTimeout
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	got, err := r.feed.RevocationsSince(sctx, from, start)
	if err != nil {
		r.mu.Lock()
		r.failedAt = r.opt.Now() // when it ended: the next is due an interval later
		r.mu.Unlock()
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range got {
		m, ok := r.byKind[e.Kind]
		if !ok {
			continue
		}
		if old, ok := m[e.Value]; ok {
			e = auth.Merge(old, e)
		}
		m[e.Value] = e
	}
	for _, m := range r.byKind {
		for v, e := range m {
			if !r.matters(e, start) {
				delete(m, v)
			}
		}
	}
	if start.After(r.synced) {
		r.synced = start
	}
	r.failedAt = time.Time{}
	return nil
}

// matters reports whether an entry can still cover a token the verifier
// accepts at now: it is in force, and a token it covers can still be
// alive (issued before the entry was written, or for a user entry before
// AllUntil, and living at most Window).
func (r *Replica) matters(e auth.Revocation, now time.Time) bool {
	if !e.Live(now) {
		return false
	}
	last := e.RevokedAt
	if e.AllUntil.After(last) {
		last = e.AllUntil
	}
	if e.Kind.HasCutoff() && e.RevokedAt.IsZero() {
		return true // every session (of the user; of everyone), until it expires
	}
	return now.Before(last.Add(r.opt.Window + r.opt.Overlap + writeBound))
}

// writeBound bounds how long after its RevokedAt (the revoking request's
// clock when it started) an entry lands: a refresh racing the revocation
// can mint a token until then, so the entry is kept that much longer. A
// revoking function runs at most 10 s (its timeout); 30 s leaves room.
const writeBound = 30 * time.Second

// Window is how far back the replica keeps revocations (Options.Window):
// a verifier using it must refuse tokens living longer than that less
// twice its clock leeway.
func (r *Replica) Window() time.Duration { return r.opt.Window }

// Len is the number of entries the view holds.
func (r *Replica) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := 0
	for _, m := range r.byKind {
		n += len(m)
	}
	return n
}
