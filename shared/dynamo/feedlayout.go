package dynamo

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/authkit/lambda-auth/shared/replica"
)

// FeedLayout spreads the revocation feed over partitions, so that no
// partition serves more than DynamoDB's per-partition ceilings (3,000 read
// units and 1,000 write units per second:
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html,
// burst-adaptive-capacity.html) however many authorizers read it and
// however many revocations are written.
//
//   - Copies (K): every item is written to K copies of the feed, and each
//     reader reads one copy, picked at its start: K copies share the
//     readers' load (fan-out on write: each item costs K times the writes).
//   - Shards (W): each copy of a bucket is W partitions, an item going to
//     one of them (by a hash of its sort key) and a reader querying all W:
//     W shares the writes of a bucket, at the price of W Queries per sync
//     (each at least one read unit).
//
// The zero value and {1, 1} are the original layout: one partition per
// bucket, keyed by the bucket's start. Partition key values: slot =
// copy*Shards + shard; slot 0 is the bucket's start (epoch seconds), slot
// s > 0 is start*feedSlots + s, so no two (bucket, slot) pairs share a key
// and a {1, 1} deployment reads and writes the keys it always has.
// BENCHMARKS.md (fleet simulation) gives the settings by fleet size.
type FeedLayout struct {
	Copies int
	Shards int
}

// feedSlots bounds Copies × Shards (the key encoding above).
const feedSlots = 10000

// MaxFeedSlots is the largest Copies × Shards a layout may have.
const MaxFeedSlots = feedSlots - 1

func (l FeedLayout) norm() FeedLayout {
	return FeedLayout{Copies: max(l.Copies, 1), Shards: max(l.Shards, 1)}
}

// Validate reports a layout that cannot be keyed.
func (l FeedLayout) Validate() error {
	if l.Copies < 0 || l.Shards < 0 || l.norm().Copies*l.norm().Shards > MaxFeedSlots {
		return fmt.Errorf("feed layout: copies %d × shards %d must be between 1 and %d", l.Copies, l.Shards, MaxFeedSlots)
	}
	return nil
}

// FeedKey is the partition key value ("bucket") of a bucket's slot.
func FeedKey(bucket int64, slot int) int64 {
	if slot == 0 {
		return bucket
	}
	return bucket*feedSlots + int64(slot)
}

// FeedShard is the shard an item goes to, from its sort key.
func (l FeedLayout) FeedShard(sk string) int {
	l = l.norm()
	if l.Shards == 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(sk))
	return int(h.Sum32() % uint32(l.Shards))
}

// WriteKeys are the partition keys an item stamped at, with sort key sk,
// is written to: its shard of every copy, in the bucket of at and the next
// (so that any span up to FeedBucket long is one Query per shard).
func (l FeedLayout) WriteKeys(at time.Time, sk string) []int64 {
	l = l.norm()
	shard := l.FeedShard(sk)
	b := bucketOf(at)
	keys := make([]int64, 0, 2*l.Copies)
	for c := range l.Copies {
		slot := c*l.Shards + shard
		keys = append(keys, FeedKey(b, slot), FeedKey(b+bucketSeconds, slot))
	}
	return keys
}

// ReadKeys are the partition keys a reader of copy c queries for every
// item written from from to to: bucket b holds the write times
// [b-FeedBucket, b+FeedBucket), so the bucket of to and every second one
// before it as far back as from, each with every shard of copy c.
func (l FeedLayout) ReadKeys(from, to time.Time, c int) []int64 {
	l = l.norm()
	c = ((c % l.Copies) + l.Copies) % l.Copies
	var keys []int64
	for b := bucketOf(to); ; b -= 2 * bucketSeconds {
		for s := range l.Shards {
			keys = append(keys, FeedKey(b, c*l.Shards+s))
		}
		if !from.Before(time.Unix(b-bucketSeconds, 0)) {
			break
		}
	}
	return keys
}

// FeedKeySpan is the span of write times a partition key holds: [start,
// end), two buckets long.
func FeedKeySpan(key int64) (start, end time.Time) {
	b := key
	if key >= 1<<40 { // a slot > 0: start*feedSlots + slot (a start is about 1.8e9)
		b = key / feedSlots
	}
	return time.Unix(b-bucketSeconds, 0), time.Unix(b+bucketSeconds, 0)
}

// String is the layout as feed items and the snapshot pointer record it
// ("layout": copies x shards, "1x1" for the zero layout).
func (l FeedLayout) String() string {
	l = l.norm()
	return fmt.Sprintf("%dx%d", l.Copies, l.Shards)
}

// Where items go depends on the layout, so a reader laid out otherwise
// than the writers reads part of the feed. The layout is recorded, so
// that a mismatch fails closed instead: every feed item carries the
// layout it was written under ("layout"), and so does the snapshot
// pointer (the compaction's, the stack's FEED_COPIES and FEED_SHARDS). A
// reader that reads an item, or the pointer, of another layout refuses its
// view (replica.ErrRefused: the replica drops it and every lookup fails,
// so the authorizer denies) and says so in a log line naming both layouts
// and in the ReplicaRefused metric. Items only show a mismatch where the
// two layouts share a partition (a reader with fewer shards sees the
// writers' items of its shards; one with more, all of them); the pointer
// shows any, and a replica's reads compare it at least every
// LayoutCheckEvery. Items written before layouts were recorded carry none
// and are read as they are.

// LayoutCheckEvery is how often a reader of the feed compares its layout
// with the snapshot pointer's, when it has not read the pointer meanwhile
// (one strongly consistent GetItem: one read unit a minute per reader).
const LayoutCheckEvery = time.Minute

// Refusal reasons, as WithRefusalCounter reports them.
const (
	RefusedLayout        = "layout"
	RefusedSnapshotAhead = "snapshot_ahead"
)

// refused logs why a read refused what it found, and counts it.
func (s *Store) refused(ctx context.Context, reason, msg string, args ...any) {
	slog.WarnContext(ctx, msg, append(args, "reason", reason)...)
	if s.onRefused != nil {
		s.onRefused(reason)
	}
}

// layoutMismatch reports what (a feed item, the snapshot pointer) written
// under layout theirs.
func (s *Store) layoutMismatch(ctx context.Context, what, theirs string) error {
	s.refused(ctx, RefusedLayout, "revocation feed: layout mismatch: no view, every request denied until the layouts agree",
		"read", what, "written_under", theirs, "this_reader", s.feed.String())
	return fmt.Errorf("%w: %s was written under feed layout %s (copies x shards), this reader reads %s (FEED_COPIES, FEED_SHARDS; dynamo.WithFeedLayout)",
		replica.ErrRefused, what, theirs, s.feed.String())
}

// checkLayout compares this reader's layout with the snapshot pointer's
// when it was last compared LayoutCheckEvery ago or more (by the store's
// clock storeTime, or the store's own clock when zero). No snapshot table,
// or no pointer yet: nothing to compare.
func (s *Store) checkLayout(ctx context.Context, storeTime time.Time) error {
	if s.tables.RevocationSnapshot == "" {
		return nil
	}
	if storeTime.IsZero() {
		storeTime = s.now()
	}
	last := s.layoutChecked.Load()
	if d := storeTime.UnixMilli() - last; last != 0 && d >= 0 && d < LayoutCheckEvery.Milliseconds() {
		return nil
	}
	p, ok, at, err := s.pointer(ctx)
	if err != nil {
		return err
	}
	s.layoutChecked.Store(laterOf(at, storeTime).UnixMilli())
	if ok && p.layout != "" && p.layout != s.feed.String() {
		return s.layoutMismatch(ctx, "snapshot "+p.id, p.layout)
	}
	return nil
}
