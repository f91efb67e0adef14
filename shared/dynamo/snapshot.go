package dynamo

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/replica"
)

// The revocation snapshot: the feed compacted, so that a replica starting
// cold reads a few large items and a short tail of the feed instead of a
// whole access token lifetime of items (shared/README.md, Revocation replica).
//
// It lives in a table of its own (Tables.RevocationSnapshot, the
// template's RevocationSnapshotTable), which only the revocation-snapshot
// function may write: a revoking function, which may append to the feed,
// cannot publish a snapshot (an empty one with a current watermark would
// blind cold authorizers). Hash key "pk" (S): a pointer item, pk
// "pointer", naming the current generation (id, parts, watermark, window,
// entries, made_at, layout: the feed layout the compaction read it with);
// and the generation's parts, part i at pk "<id>#<i>", attribute "data":
// the entries, gzip'd (RFC 1952) in a compact binary encoding
// (encodeEntries), each part under snapshotPartSize so an item stays far
// below DynamoDB's 400 KB. Parts spread over partitions, one per part, so
// a cold load's reads do not all fall on one partition's 3,000 read units
// per second. A generation is written parts first, then the pointer, with
// a conditional put on the pointer (the generation it replaces must still
// be current): two compactions running at once cannot interleave, the
// loser's parts are never pointed to. Parts live a day (expires_at, the
// table's TTL), the pointer as long as it is rewritten.
//
// A reader refuses a pointer whose watermark is ahead of the store's clock
// (the Date of the GetItem's answer) by more than SnapshotAheadBound: no
// compaction can have read the feed up to a time that has not come yet,
// so such a snapshot is forged or broken, and the feed's whole window is
// read instead (a warning log line, and the ReplicaRefused metric in the
// authorizer). A pointer written under another feed layout fails the
// reader closed (replica.ErrRefused), as a feed item does (feedlayout.go).

const (
	snapshotPointerPK = "pointer"
	// snapshotPartSize is the compressed size at which a part is cut:
	// under DynamoDB's 400 KB item limit with room for the deflate
	// block still buffered when the size is checked.
	snapshotPartSize = 240 << 10
	// snapshotMaxParts bounds a generation: BatchGetItem reads at most
	// 100 keys and 16 MB in one call.
	snapshotMaxParts = 60
	// SnapshotEvery is how often a compaction writes a new snapshot
	// generation (or moves its watermark on a quiet feed): a cold load
	// reads the feed tail since, about a minute of items.
	SnapshotEvery = time.Minute
	// SnapshotAheadBound is how far a snapshot's watermark may be ahead of
	// the store's clock (the Date of the answer that read it, rounded
	// down, plus a second) before a reader refuses it: the skew a
	// replica tolerates between clocks (replica.Options.ClockSkewBound).
	SnapshotAheadBound = 2 * time.Second
)

func snapshotPointerKey() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str(snapshotPointerPK)}
}

func snapshotPartKey(id string, i int) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str(id + "#" + strconv.Itoa(i))}
}

type snapshotPointer struct {
	id        string
	parts     int
	watermark time.Time
	window    time.Duration
	entries   int
	madeAt    time.Time
	layout    string // the feed layout the compaction read (FeedLayout.String); "" before layouts were recorded
}

// pointer reads the snapshot's pointer, strongly consistent; ok is false
// when there is none. storeTime is DynamoDB's clock in the answer.
func (s *Store) pointer(ctx context.Context) (p snapshotPointer, ok bool, storeTime time.Time, err error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.tables.RevocationSnapshot,
		Key: snapshotPointerKey(), ConsistentRead: new(true)})
	if err != nil {
		return p, false, time.Time{}, fmt.Errorf("revocation snapshot pointer: %w", err)
	}
	storeTime = s.serverClock(out.ResultMetadata)
	if out.Item == nil {
		return p, false, storeTime, nil
	}
	it := item(out.Item)
	n := func(k string) int64 { v, _ := it.num(k); return v }
	p = snapshotPointer{id: it.str("id"), parts: int(n("parts")), watermark: time.UnixMilli(n("watermark")),
		window: time.Duration(n("window")) * time.Millisecond, entries: int(n("entries")), madeAt: time.UnixMilli(n("made_at")),
		layout: it.str("layout")}
	if p.id == "" || p.parts < 1 || p.parts > snapshotMaxParts {
		return p, false, storeTime, fmt.Errorf("revocation snapshot pointer: malformed (id %q, %d parts)", p.id, p.parts)
	}
	return p, true, storeTime, nil
}

// Snapshot reads the current snapshot: its pointer (strongly consistent
// GetItem), then its parts (one BatchGetItem). No snapshot table, no
// snapshot yet, or one whose parts are gone (expired: no compaction for a
// day), reads as none (a zero Watermark): the replica then reads the whole
// window of the feed. A pointer ahead of the store's clock is refused
// (errSnapshotAhead); one written under another feed layout fails closed
// (replica.ErrRefused).
func (s *Store) Snapshot(ctx context.Context) (replica.Snapshot, error) {
	return s.snapshot(ctx, false)
}

// snapshot reads the snapshot; for a compaction (compacting), a pointer
// of another layout reads as none: the compaction after a layout change
// reads the feed's whole window and writes a generation of its own.
func (s *Store) snapshot(ctx context.Context, compacting bool) (replica.Snapshot, error) {
	if s.tables.RevocationSnapshot == "" {
		return replica.Snapshot{}, nil
	}
	p, ok, storeTime, err := s.pointer(ctx)
	if err == nil && !ok {
		s.layoutChecked.Store(storeTime.UnixMilli()) // no pointer: nothing to compare (checkLayout)
	}
	if err != nil || !ok {
		return replica.Snapshot{Batch: replica.Batch{StoreTime: storeTime}}, err
	}
	none := replica.Snapshot{Batch: replica.Batch{StoreTime: storeTime}}
	if compacting && p.layout != "" && p.layout != s.feed.String() {
		return none, nil
	}
	if err := s.checkPointer(ctx, p, storeTime); err != nil {
		return none, err
	}
	s.layoutChecked.Store(storeTime.UnixMilli())
	ks := make([]map[string]types.AttributeValue, p.parts)
	for i := range ks {
		ks[i] = snapshotPartKey(p.id, i)
	}
	got, err := s.batchGet(ctx, map[string]types.KeysAndAttributes{s.tables.RevocationSnapshot: keys(ks...)})
	if err != nil {
		return replica.Snapshot{}, fmt.Errorf("revocation snapshot %s: %w", p.id, err)
	}
	items := got[s.tables.RevocationSnapshot]
	if len(items) != p.parts {
		slog.WarnContext(ctx, "revocation snapshot: parts missing, reading the feed instead", "id", p.id, "want", p.parts, "got", len(items))
		return replica.Snapshot{Batch: replica.Batch{StoreTime: storeTime}}, nil
	}
	entries := make([]auth.Revocation, 0, p.entries)
	for _, it := range items {
		if entries, err = decodeEntries(item(it).bin("data"), entries); err != nil {
			return replica.Snapshot{}, fmt.Errorf("revocation snapshot %s: %w", p.id, err)
		}
	}
	return replica.Snapshot{Batch: replica.Batch{Entries: entries, StoreTime: storeTime},
		Watermark: p.watermark, Window: p.window, ID: p.id}, nil
}

// errSnapshotAhead: a snapshot pointer's watermark is ahead of the store's
// clock; the replica reads the feed instead.
var errSnapshotAhead = errors.New("revocation snapshot: watermark ahead of DynamoDB's clock")

// checkPointer refuses a pointer whose watermark is ahead of the store's
// clock beyond SnapshotAheadBound (storeTime: the Date of the answer,
// rounded down; the store's clock is earlier than storeTime + 1 s), and
// one written under another feed layout than this store reads.
func (s *Store) checkPointer(ctx context.Context, p snapshotPointer, storeTime time.Time) error {
	if storeTime.IsZero() {
		storeTime = s.now()
	}
	if ahead := p.watermark.Sub(storeTime.Add(time.Second)); ahead > SnapshotAheadBound {
		s.refused(ctx, RefusedSnapshotAhead, "revocation snapshot refused: its watermark is ahead of DynamoDB's clock; reading the feed instead",
			"id", p.id, "watermark", p.watermark.UTC().Format(time.RFC3339Nano), "store_time", storeTime.UTC().Format(time.RFC3339), "ahead", ahead.String())
		return fmt.Errorf("%w: %s by %s", errSnapshotAhead, p.id, ahead)
	}
	if p.layout != "" && p.layout != s.feed.String() {
		return s.layoutMismatch(ctx, "snapshot "+p.id, p.layout)
	}
	return nil
}

// Compaction is what one CompactSnapshot did.
type Compaction struct {
	// Skipped: the snapshot was fresh (made less than SnapshotEvery ago);
	// only its pointer was read.
	Skipped bool
	// Moved: the feed had no item since the snapshot: only the pointer
	// was rewritten, with a later watermark.
	Moved bool
	// Lost: another compaction replaced the snapshot meanwhile; this one
	// wrote nothing it points to.
	Lost      bool
	ID        string // the generation current after it
	Entries   int
	Parts     int
	Bytes     int // of the parts written
	Watermark time.Time
}

// CompactSnapshot makes the snapshot current: when it is older than
// SnapshotEvery, it loads a replica as a cold authorizer does (the
// snapshot and the feed since it, or the feed's whole window), which
// merges (auth.Merge) and prunes (replica.Matters) them, and writes the
// result as a new generation, or, when the feed had nothing new, moves
// the pointer's watermark on. window is the stack's access token lifetime
// plus twice its leeway (a replica with a longer window ignores the
// snapshot). Cheap when the snapshot is fresh: one GetItem.
func (s *Store) CompactSnapshot(ctx context.Context, window time.Duration) (Compaction, error) {
	prev, had, _, err := s.pointer(ctx)
	if err != nil {
		return Compaction{}, err
	}
	now := s.now()
	if had && prev.window >= window && now.Sub(prev.madeAt) < SnapshotEvery && !now.Before(prev.madeAt) && prev.layout == s.feed.String() {
		return Compaction{Skipped: true, ID: prev.id, Entries: prev.entries, Parts: prev.parts, Watermark: prev.watermark}, nil
	}
	// The caller's context bounds the load (the function's timeout): a
	// first generation reads the feed's whole window.
	r := replica.New(compactionFeed{s}, replica.Options{Window: window, Now: s.now, LoadTimeout: time.Hour,
		Logger: slog.New(slog.DiscardHandler)})
	if err := r.Load(ctx); err != nil {
		return Compaction{}, fmt.Errorf("revocation snapshot: load: %w", err)
	}
	st, mark := r.Stats(), r.Watermark()
	cond := &dynamodb.PutItemInput{TableName: &s.tables.RevocationSnapshot}
	if had {
		cond.ConditionExpression = new("id = :prev")
		cond.ExpressionAttributeValues = map[string]types.AttributeValue{":prev": str(prev.id)}
	} else {
		cond.ConditionExpression = new("attribute_not_exists(pk)")
	}
	c := Compaction{Watermark: mark}
	if had && st.SnapshotID == prev.id && st.Changes == 0 && r.Len() == prev.entries && prev.window == window {
		// Nothing new, nothing pruned: the same parts, complete up to a
		// later stamp.
		c.Moved, c.ID, c.Entries, c.Parts = true, prev.id, prev.entries, prev.parts
	} else {
		entries := r.Entries()
		parts, err := encodeParts(entries)
		if err != nil {
			return Compaction{}, err
		}
		c.ID, c.Entries, c.Parts = randomSuffix(), len(entries), len(parts)
		if err := s.putParts(ctx, c.ID, parts, now); err != nil {
			return Compaction{}, err
		}
		for _, p := range parts {
			c.Bytes += len(p)
		}
	}
	cond.Item = map[string]types.AttributeValue{
		"pk": str(snapshotPointerPK), "id": str(c.ID), "parts": num(int64(c.Parts)), "layout": str(s.feed.String()),
		"watermark": millis(mark), "window": num(window.Milliseconds()), "entries": num(int64(c.Entries)),
		"made_at": millis(now), "expires_at": seconds(now.Add(feedLife)),
	}
	if _, err := s.db.PutItem(ctx, cond); err != nil {
		if _, ok := isConditionFailed(err); ok {
			return Compaction{Lost: true}, nil
		}
		return Compaction{}, fmt.Errorf("revocation snapshot pointer: %w", err)
	}
	return c, nil
}

// compactionFeed is the feed as a compaction reads it: the snapshot of
// another layout reads as none, and the pointer is not compared on every
// read (the compaction writes it).
type compactionFeed struct{ s *Store }

func (f compactionFeed) RevocationsSince(ctx context.Context, from, to time.Time) (replica.Batch, error) {
	return f.s.revocationsSince(ctx, from, to)
}

func (f compactionFeed) Snapshot(ctx context.Context) (replica.Snapshot, error) {
	return f.s.snapshot(ctx, true)
}

// putParts writes a generation's parts, a few at a time.
func (s *Store) putParts(ctx context.Context, id string, parts [][]byte, now time.Time) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		slots = make(chan struct{}, 4)
	)
	for i, data := range parts {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			it := snapshotPartKey(id, i)
			it["data"], it["expires_at"] = bin(data), seconds(now.Add(feedLife))
			if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.tables.RevocationSnapshot, Item: it}); err != nil {
				mu.Lock()
				first = cmpOr(first, fmt.Errorf("revocation snapshot %s part %d: %w", id, i, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// encodeParts encodes entries (encodeEntry) into gzip'd parts, each cut
// once its compressed size passes snapshotPartSize.
func encodeParts(entries []auth.Revocation) ([][]byte, error) {
	var (
		parts [][]byte
		buf   bytes.Buffer
		zw    *gzip.Writer
		raw   []byte
	)
	cut := func() error {
		if err := zw.Close(); err != nil {
			return err
		}
		parts = append(parts, bytes.Clone(buf.Bytes()))
		zw = nil
		return nil
	}
	for _, e := range entries {
		if zw == nil {
			buf.Reset()
			zw, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		}
		raw = encodeEntry(raw[:0], e)
		zw.Write(raw)
		if buf.Len() >= snapshotPartSize {
			if err := cut(); err != nil {
				return nil, fmt.Errorf("revocation snapshot: encode: %w", err)
			}
		}
	}
	if zw != nil || len(parts) == 0 {
		if zw == nil {
			buf.Reset()
			zw, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		}
		if err := cut(); err != nil {
			return nil, fmt.Errorf("revocation snapshot: encode: %w", err)
		}
	}
	if len(parts) > snapshotMaxParts {
		return nil, fmt.Errorf("revocation snapshot: %d entries need %d parts, more than %d", len(entries), len(parts), snapshotMaxParts)
	}
	return parts, nil
}

// encodeEntry appends one entry: kind, value and reason as
// length-prefixed strings (uvarint), revoked_at, all_until and
// expires_at as Unix milliseconds (varint, 0: none).
func encodeEntry(b []byte, e auth.Revocation) []byte {
	for _, s := range []string{string(e.Kind), e.Value, e.Reason} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, t := range []time.Time{e.RevokedAt, e.AllUntil, e.ExpiresAt} {
		var ms int64
		if !t.IsZero() {
			ms = t.UnixMilli()
		}
		b = binary.AppendVarint(b, ms)
	}
	return b
}

var errBadSnapshot = errors.New("malformed snapshot part")

// decodeEntries appends the entries of one gzip'd part to out.
func decodeEntries(data []byte, out []auth.Revocation) ([]auth.Revocation, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return out, fmt.Errorf("%w: %w", errBadSnapshot, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return out, fmt.Errorf("%w: %w", errBadSnapshot, err)
	}
	// Kinds and reasons repeat: one string each.
	interned := map[string]string{}
	intern := func(b []byte) string {
		if s, ok := interned[string(b)]; ok {
			return s
		}
		s := string(b)
		if len(interned) < 1024 {
			interned[s] = s
		}
		return s
	}
	for len(raw) > 0 {
		var f [3][]byte
		for i := range f {
			n, k := binary.Uvarint(raw)
			if k <= 0 || uint64(len(raw)-k) < n {
				return out, errBadSnapshot
			}
			f[i], raw = raw[k:k+int(n)], raw[k+int(n):]
		}
		var t [3]time.Time
		for i := range t {
			ms, k := binary.Varint(raw)
			if k <= 0 {
				return out, errBadSnapshot
			}
			raw = raw[k:]
			if ms != 0 {
				t[i] = time.UnixMilli(ms)
			}
		}
		out = append(out, auth.Revocation{Kind: auth.RevocationKind(intern(f[0])), Value: string(f[1]), Reason: intern(f[2]),
			RevokedAt: t[0], AllUntil: t[1], ExpiresAt: t[2]})
	}
	return out, nil
}
