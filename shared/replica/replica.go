// Package replica keeps a per-process, in-memory view of the revocation
// feed, so that checking whether an access token is revoked costs a few map
// lookups instead of a DynamoDB read, and survives a DynamoDB outage for a
// bounded time.
//
// # Why the last access token lifetime of the feed is enough
//
// A verifier that uses a replica refuses tokens that live longer than the
// configured lifetime (token.WithMaxLifetime), so a token it accepts now
// was issued after now - Window (Window = access token lifetime + clock
// leeway). A revocation that covers it was written after it was issued: a
// jti is revoked after it exists, and a session or user cut off by a
// revocation can mint no new access token afterwards, because refresh
// checks the table itself (strongly consistent) and refuses it. So only
// revocations written in the last Window can still matter, however old
// the sessions they end (Matters is the rule).
//
// # What a sync reads: the watermark
//
// Every feed item carries a stamp: its writer's clock when it was written.
// The replica keeps a watermark W, a stamp such that every item stamped
// before W is already in the view, and each sync reads the items stamped
// at or after W only, then moves W up. So an item is read by a replica
// about once: once by the sync after it was written, and again only while
// it is within Overlap of the newest stamps (Overlap covers the items that
// become visible late; it does not grow with the rate).
//
// After a sync that began at (true) time T, W may move to any stamp below
// which no item can still become visible: a writer whose clock is e ahead
// of true time stamps an item s and gets DynamoDB's answer (the item is
// visible to strongly consistent reads) by s - e + FeedLateness, or writes
// it again with a fresh stamp (dynamo.FeedLateness). So W' = T + e - L is
// safe for every writer whose skew is at least e, and the replica takes
//
//	W' = max(W, max(min(newest stamp read, T_start), T_low) - Overlap)
//
// where Overlap >= FeedLateness + the skew between writers (and between
// writers and the store; Lambda's clocks follow the Amazon Time Sync
// Service), T_low is a lower bound of the store's clock when the sync
// began: the Date of the store's answer (rounded down to the second) less
// the sync's duration, and T_start the reader's clock at the sync's start
// corrected by the offset to the store's clock it keeps (also a lower
// bound). Both terms are safe: every read of the sync happened at or after
// its start, so nothing stamped before T_start - Overlap can still become
// visible to any of them. The newest stamp counts only up to T_start: a
// sync is several Queries (one per shard) and pages, and a stamp read by
// a late one must not move W past an item an early one could not see
// yet; the cap also keeps one writer whose clock runs far ahead from
// dragging W past everyone else's items. T_low is what moves W when the
// feed is quiet (no item read, nothing to take a stamp from), so a quiet
// feed still costs one Query per sync over a few seconds of stamps. A feed
// that gives no store time (a test's fake) moves W with the stamps alone,
// capped by the reader's
// clock. The reader's own clock never decides what is read.
//
// # The reader's clock
//
// A reader's clock may disagree with the store's (a laptop, a container
// without time sync). The replica corrects for it rather than failing
// closed: from every answer's Date it keeps the offset between the store's
// clock and its own (a lower bound: the Date is rounded down), and uses
// the store's clock wherever an absolute time decides something: which
// buckets exist yet (the to of a read), and, with the reader's own clock,
// which stamps a cold load starts from and when an entry leaves the view:
// on the earlier of the two, because the token checks run on the reader's
// clock, and a reader behind the store accepts a token that much longer. Durations (the sync interval, the staleness bound) are
// measured on the reader's clock, which skew does not affect. Correcting
// keeps the authorizer up on a host whose clock is off while deciding what
// a host with the right clock decides; failing closed would turn a bad
// clock into an outage of every API. A skew beyond Options.ClockSkewBound
// is reported (Options.OnClockSkew: the ReplicaClockSkew metric in the
// authorizer, and a warning log line) at most once a minute, because the
// token checks (exp, nbf, iat) still use the reader's clock with its
// leeway: an operator must fix such a host.
//
// # Cold start: the snapshot
//
// A replica without a view (cold, or idle so long that the feed tail since
// its watermark is long) reads the feed's snapshot first (Feed.Snapshot: a
// compacted copy of the entries that matter, complete up to its own
// watermark, kept current by a compaction every minute), then the tail of
// the feed since the snapshot's watermark. Without a usable snapshot (none
// yet, or compacted for a shorter Window) it reads the whole Window of the
// feed.
//
// # A feed that refuses the reader
//
// A feed may find that this reader would read it incompletely (the
// revocation feed laid out in other copies or shards than the reader
// reads: dynamo.FeedLayout) and return ErrRefused. That is not an outage
// the last view can ride out: the view may lack revocations. The replica
// drops it, and every lookup fails (the authorizer denies) until a sync
// succeeds.
//
// # Outages
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

// Feed is the revocation feed: shared/dynamo's Store. The replica knows
// nothing of how the feed is keyed or partitioned: it asks for "every item
// stamped at or after from" and for the snapshot, and reads the stamps and
// the store's clock in the answers.
type Feed interface {
	// RevocationsSince returns every item stamped at or after from (by its
	// writer's clock) that is visible when the read happens (strongly
	// consistent). to is the newest stamp the reader expects can exist
	// yet (the store's clock, rounded up, plus Overlap): a feed keyed by
	// stamp may read no further; it may also return items stamped later.
	// The result carries the newest stamp read and the store's clock.
	RevocationsSince(ctx context.Context, from, to time.Time) (Batch, error)
	// Snapshot returns the feed's newest compacted snapshot; a zero
	// Watermark when there is none.
	Snapshot(ctx context.Context) (Snapshot, error)
}

// Batch is what one read of the feed returns.
type Batch struct {
	// Entries are the items read, each the entry as it stood after its
	// write (merged): in any order, the same key any number of times.
	Entries []auth.Revocation
	// Newest is the newest stamp among the items read (the writers'
	// clocks); zero when none was read.
	Newest time.Time
	// StoreTime is the store's clock during the read, rounded down to the
	// second: the Date header of its answer (RFC 9110 6.6.1), the newest
	// one when the read took several calls; zero when unknown.
	StoreTime time.Time
}

// Snapshot is a compacted copy of the feed: every entry that mattered when
// it was made (Matters, for Window), merged, one per key.
type Snapshot struct {
	Batch // Entries: the snapshot's; Newest: unused
	// Watermark: every item stamped before it is in Entries (or no longer
	// mattered); zero when there is no snapshot.
	Watermark time.Time
	// Window is the Window the snapshot was pruned for: a replica with a
	// longer one cannot use it.
	Window time.Duration
	// ID names the snapshot's generation.
	ID string
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
	// Overlap is how far below the newest stamp seen (or the store's
	// clock) the watermark stays: at least the feed's lateness bound
	// (dynamo.FeedLateness, 500 ms) plus the clock skew between writers.
	// DefaultOverlap by default.
	Overlap time.Duration
	// SyncTimeout bounds one sync (the authorizer's store timeout).
	SyncTimeout time.Duration
	// SnapshotAfter: a sync whose watermark is further than this behind
	// the store's clock (a container that idled) reads the snapshot before
	// the tail, when the snapshot is newer than its watermark. 1 minute by
	// default.
	SnapshotAfter time.Duration
	// ClockSkewBound is how far the reader's clock may differ from the
	// store's before it is reported (OnClockSkew, a log line); 2 s by
	// default (the store's Date has a resolution of one second).
	ClockSkewBound time.Duration
	// OnClockSkew is called, at most once a minute, with the reader's
	// clock minus the store's when that is beyond ClockSkewBound.
	OnClockSkew func(skew time.Duration)
	Now         func() time.Time // nil: time.Now
	Logger      *slog.Logger     // nil: slog.Default()
}

// DefaultOverlap is Overlap's default: dynamo.FeedLateness (500 ms) and
// half a second for the skew between writers' clocks.
const DefaultOverlap = time.Second

// ErrStale is returned by lookups when the view is older than MaxStaleness
// (or there has never been one) and the store does not answer.
var ErrStale = errors.New("revocation replica: no view fresh enough")

// ErrRefused is what a Feed returns when what it read says this reader
// would read it incompletely (a feed laid out otherwise than this reader
// reads it): the replica drops its view, and every lookup fails (the
// authorizer denies) until a sync succeeds.
var ErrRefused = errors.New("revocation replica: the feed refuses this reader")

// errRecentFailure: a sync failed less than SyncInterval ago; the next
// one is not due yet.
var errRecentFailure = errors.New("revocation replica: the last sync failed moments ago")

// Replica is the in-memory view. It is safe for concurrent use.
type Replica struct {
	feed Feed
	opt  Options

	mu        sync.RWMutex
	view      view
	watermark time.Time     // every item stamped before it is in the view (the writers' clocks)
	offset    time.Duration // the store's clock minus the reader's, a lower bound
	hasOffset bool
	synced    time.Time // (reader's clock) when the last successful sync began
	failedAt  time.Time // when the last failed sync ended (zero after a success)
	reported  time.Time // when a clock skew was last reported
	pruned    time.Time // (the store's clock) when the view was last pruned
	stats     Stats

	syncing sync.Mutex // one sync at a time
}

var _ auth.RevocationLookup = (*Replica)(nil)

// New returns an empty replica over feed: until its first sync (Load, or
// the first lookup) it has no view.
func New(feed Feed, opt Options) *Replica {
	if opt.SyncInterval <= 0 {
		opt.SyncInterval = time.Second
	}
	if opt.Overlap <= 0 {
		opt.Overlap = DefaultOverlap
	}
	if opt.SyncTimeout <= 0 {
		opt.SyncTimeout = 800 * time.Millisecond
	}
	if opt.LoadTimeout <= 0 {
		opt.LoadTimeout = 4 * time.Second
	}
	if opt.SnapshotAfter <= 0 {
		opt.SnapshotAfter = time.Minute
	}
	if opt.ClockSkewBound <= 0 {
		opt.ClockSkewBound = 2 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Replica{feed: feed, opt: opt, view: newView()}
}

// Load is the cold start: the snapshot and the feed since it, or the last
// Window of the feed. Call it at init; an error leaves the replica without
// a view, and lookups try again.
func (r *Replica) Load(ctx context.Context) error { return r.sync(ctx, true) }

// Revocations returns the entries the view holds for a token's jti, sid
// and sub, and the global one (auth.RevokeAll, under auth.AllValue). It
// syncs first when the view is older than SyncInterval; when that fails it
// answers from a view no older than MaxStaleness, or fails with ErrStale.
func (r *Replica) Revocations(ctx context.Context, jti, sid, sub string) ([]auth.Revocation, error) {
	now := r.opt.Now()
	r.mu.RLock()
	synced, failedAt := r.synced, r.failedAt
	r.mu.RUnlock()
	if synced.IsZero() || now.Sub(synced) > r.opt.SyncInterval {
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
	return r.view.lookup(jti, sid, sub), nil
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

// Stats counts what the replica read, for benchmarks and the compaction.
type Stats struct {
	Syncs         int    // successful syncs, the cold load included
	Items         int    // feed items read
	Changes       int    // feed items that changed the view (a new key, or a merge that moved something)
	Snapshots     int    // snapshots read
	SnapshotItems int    // entries read from snapshots
	SnapshotID    string // the last snapshot read
}

// Stats returns what the replica has read so far.
func (r *Replica) Stats() Stats {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.stats
}

// Watermark is the replica's watermark: every feed item stamped before it
// is in the view. Zero before the first sync.
func (r *Replica) Watermark() time.Time {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.watermark
}

// Entries returns every entry the view holds (Reason included when it was
// one of the first few hundred distinct reasons seen): what a compaction
// writes.
func (r *Replica) Entries() []auth.Revocation {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.view.all()
}

// storeNow is the store's clock now, as far as the replica knows it (a
// lower bound: never later than the store's clock).
func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (r *Replica) storeNow(readerNow time.Time) time.Time {
	return readerNow.Add(r.offset)
}

// sync reads the feed since the watermark, or, when cold or far behind,
// the snapshot and the feed since it (or the whole Window), and merges
// it into the view.
func (r *Replica) sync(ctx context.Context, cold bool) error {
	r.syncing.Lock()
	defer r.syncing.Unlock()
	start := r.opt.Now()
	r.mu.RLock()
	synced, failedAt, w := r.synced, r.failedAt, r.watermark
	r.mu.RUnlock()
	if !cold {
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
	timeout := r.opt.SyncTimeout
	if cold {
		timeout = r.opt.LoadTimeout
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := r.read(sctx, start, cold || w.IsZero(), w)
	if err != nil {
		r.mu.Lock()
		r.failedAt = r.opt.Now() // when it ended: the next is due an interval later
		if errors.Is(err, ErrRefused) {
			// Not an outage: the view may lack revocations. No view decides.
			r.view, r.watermark, r.synced = newView(), time.Time{}, time.Time{}
		}
		r.mu.Unlock()
		return err
	}
	return nil
}

// read does one sync's reads and installs what they found. full: there is
// no watermark to go on (cold).
func (r *Replica) read(ctx context.Context, start time.Time, full bool, w time.Time) error {
	r.mu.RLock()
	storeStart := r.storeNow(start)
	r.mu.RUnlock()
	tooOld := !full && storeStart.Sub(w) > r.opt.Window
	var snap *Snapshot
	if full || tooOld || storeStart.Sub(w) > r.opt.SnapshotAfter {
		var err error
		if snap, err = r.snapshot(ctx, start, w); err != nil {
			return err
		}
		r.mu.RLock()
		storeStart = r.storeNow(start)
		r.mu.RUnlock()
	}
	from := w
	switch {
	case snap != nil:
		from = snap.Watermark
	case full || tooOld:
		// From the earlier of the two clocks: a reader behind the store
		// still accepts tokens issued that much longer ago.
		from = earliest(storeStart, start).Add(-r.opt.Window - r.opt.Overlap)
	}
	// The buckets that can hold items yet: the store's clock rounded up
	// (its Date is rounded down), plus how far ahead a writer may be.
	to := storeStart.Add(time.Second + r.opt.Overlap)
	b, err := r.feed.RevocationsSince(ctx, from, to)
	if err != nil {
		return err
	}
	end := r.opt.Now()
	r.observe(b.StoreTime, start, end)
	r.install(start, end, from, full, snap, b)
	return nil
}

// snapshot reads the feed's snapshot, and returns it when it is usable
// (made for a Window at least this replica's, newer than w). A snapshot
// that cannot be read (a role that may only Query the feed, a malformed
// part, a watermark ahead of the store's clock) costs time, not
// correctness: nil, and the feed is read instead. ErrRefused is returned.
func (r *Replica) snapshot(ctx context.Context, start, w time.Time) (*Snapshot, error) {
	s, err := r.feed.Snapshot(ctx)
	if errors.Is(err, ErrRefused) {
		return nil, err
	}
	if err != nil {
		r.opt.Logger.WarnContext(ctx, "revocation replica: snapshot unreadable, reading the feed instead", "err", err)
		return nil, nil
	}
	r.observe(s.StoreTime, start, r.opt.Now())
	if !s.Watermark.IsZero() && s.Window >= r.opt.Window && s.Watermark.After(w) {
		return &s, nil
	}
	return nil, nil
}

// install merges a sync's snapshot (if any) and batch b into the view and
// moves the watermark (package comment), read from from, by a sync that
// began at start and ended at end (the reader's clock).
func (r *Replica) install(start, end, from time.Time, full bool, snap *Snapshot, b Batch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if snap != nil {
		for _, e := range snap.Entries {
			r.view.add(e)
		}
		r.stats.Snapshots++
		r.stats.SnapshotItems += len(snap.Entries)
		r.stats.SnapshotID = snap.ID
	}
	for _, e := range b.Entries {
		if r.view.add(e) {
			r.stats.Changes++
		}
	}
	r.stats.Syncs++
	r.stats.Items += len(b.Entries)
	if mark := r.nextWatermark(start, end, b); mark.After(from) {
		from = mark
	}
	if from.After(r.watermark) || full || snap != nil {
		r.watermark = from
	}
	// Pruning walks the whole view: every pruneEvery is enough (an entry
	// kept a little longer covers no token a verifier still accepts).
	// Pruned on the earlier of the two clocks: the token checks (exp, iat)
	// use the reader's, so a reader behind the store accepts a token that
	// much longer, and an entry covering it must stay as long.
	if now := earliest(r.storeNow(start), start); full || snap != nil || now.Sub(r.pruned) >= pruneEvery || now.Before(r.pruned) {
		r.view.prune(now, r.opt.Window+r.opt.Overlap)
		r.pruned = now
	}
	if start.After(r.synced) {
		r.synced = start
	}
	r.failedAt = time.Time{}
}

// nextWatermark is the watermark a sync from start to end that read b
// allows (package comment): the newest stamp read or the store's clock
// when the sync began, whichever is later, less Overlap. The newest stamp
// counts only up to the store's clock when the sync began (a lower bound
// of it): a sync is several Queries and pages, and a stamp read late in it
// must not move the watermark past an item a Query early in it could not
// see yet. Called with r.mu held.
func (r *Replica) nextWatermark(start, end time.Time, b Batch) time.Time {
	mark := b.Newest
	if first := r.storeNow(start); mark.After(first) {
		mark = first
	}
	if !b.StoreTime.IsZero() {
		// The store's clock at the sync's start, at most: its Date
		// (rounded down) less the sync's duration.
		if low := b.StoreTime.Add(-end.Sub(start)); low.After(mark) {
			mark = low
		}
	}
	return mark.Add(-r.opt.Overlap)
}

// observe takes the store's clock (rounded down to the second) from an
// answer received between start and end on the reader's clock: the store's
// clock minus the reader's is at least storeTime - end, and at most
// storeTime + 1 s - start. The lower bound is kept (for pruning it errs on
// keeping entries longer; for the cold load, on reading further back), and
// a skew beyond ClockSkewBound either way is reported.
func (r *Replica) observe(storeTime, start, end time.Time) {
	if storeTime.IsZero() {
		return
	}
	low, high := storeTime.Sub(end), storeTime.Add(time.Second).Sub(start)
	r.mu.Lock()
	r.offset, r.hasOffset = low, true
	var skew time.Duration
	switch b := r.opt.ClockSkewBound; {
	case low > b: // the reader's clock is behind
		skew = -low
	case high < -b: // the reader's clock is ahead
		skew = -high
	}
	report := skew != 0 && (r.reported.IsZero() || end.Sub(r.reported) >= time.Minute || end.Before(r.reported))
	if report {
		r.reported = end
	}
	r.mu.Unlock()
	if report {
		r.opt.Logger.Warn("revocation replica: this host's clock disagrees with DynamoDB's; decisions use DynamoDB's clock, token expiry checks still use this one",
			"skew", skew.Round(time.Millisecond).String(), "bound", r.opt.ClockSkewBound.String())
		if r.opt.OnClockSkew != nil {
			r.opt.OnClockSkew(skew)
		}
	}
}

// ClockOffset is the store's clock minus the reader's as last measured (a
// lower bound, within a second and the call's duration), and whether any
// answer carried the store's clock.
func (r *Replica) ClockOffset() (time.Duration, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.offset, r.hasOffset
}

// Matters reports whether an entry can still cover a token a verifier
// whose replica keeps window accepts at now: it is in force, and a token
// it covers can still be alive (issued before the entry was written, or
// for a user or global entry before AllUntil, and living at most window,
// kept writeBound longer for a refresh racing the revocation's write). A
// user or global entry without cutoff covers every session until it
// expires, so it matters while in force. Compactions prune with the same rule.
func Matters(e auth.Revocation, now time.Time, window time.Duration) bool {
	if !e.Live(now) {
		return false
	}
	if e.Kind.HasCutoff() && e.RevokedAt.IsZero() {
		return true // every session (of the user; of everyone), until it expires
	}
	last := e.RevokedAt
	if e.AllUntil.After(last) {
		last = e.AllUntil
	}
	return now.Before(last.Add(window + writeBound))
}

// pruneEvery is how often a sync drops the entries that no longer matter.
const pruneEvery = 10 * time.Second

// writeBound bounds how long after its RevokedAt (the revoking request's
// clock when it started) an entry lands: a refresh racing the revocation
// can mint a token until then, so the entry is kept that much longer. A
// revoking function runs at most 10 s (its timeout); 30 s leaves room.
const writeBound = 30 * time.Second

// Window is how far back the replica keeps revocations (Options.Window):
// a verifier using it must refuse tokens living longer than that less
// twice its clock leeway (auth.RevocationLookup). The replica bounds its
// own reads (SyncTimeout): an auth.Authorizer over it is built with no
// lookup timeout of its own.
func (r *Replica) Window() time.Duration { return r.opt.Window }

// Len is the number of entries the view holds.
func (r *Replica) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.view.len()
}
