package dynamo

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/replica"
)

// Revocation feed table: every revocation the service writes, once more,
// readable as "everything since W" with one strongly consistent Query per
// bucket (per shard of the reader's copy: FeedLayout). Hash key "bucket"
// (N: the start of a FeedBucket-long span of write times, epoch seconds,
// or for a layout's slot s > 0, start*10000 + s: FeedKey), range key "sk" (S: "<write time, 13-digit
// epoch ms>#<kind>#<value>#<16 random hex digits>"), so a bucket's items
// sort by write time and no item is ever overwritten. Every item is
// written twice, to the bucket of its write time and to the next one, so a
// bucket holds the write times of two buckets' spans and any span up to a
// bucket long is one Query: a replica's sync never pays a second Query at a
// boundary, and a cold start reads every second bucket.
// Attributes: kind, value, revoked_at (ms), all_until (s), entry_expires_at
// (s: the entry's own expiry), reason, and expires_at (s, the TTL: a day
// after the write, past the longest access token lifetime). Items are the
// entry as it stands after the write (merged), so readers merge them in any
// order. Two writers put them: the service, right after the entry changed
// (its sort key stamped on the entry as feed_sk first), and the stream
// function (stream.go) for every change of the Revocations table, which
// writes the service's item only if it is missing: one item per state.

// FeedBucket is how long a span of write times one feed partition is
// keyed by (it holds two: its own and the one before). A replica's periodic
// sync reads one bucket; a cold start reads every second bucket of the
// last access token lifetime, in parallel.
const FeedBucket = 5 * time.Minute

// FeedLateness bounds how long after its write time a feed item may become
// visible: a write that took longer (measured by the writer, from the
// stamp to the answer) is written again with a fresh stamp, past what a
// reader can have read. Readers overlap their watermark by at least this
// much plus the clock skew between writers and readers, and so read each
// item about (sync interval + overlap + half a second for the Date's
// rounding) / sync interval times: 500 ms (a feed write takes about 10 ms
// on DynamoDB; a write slowed by throttling retries is written again,
// three tries, then left to the stream function) makes that 2.5, against
// 4 with 2 s (SECURITY.md, "What a sync reads").
const FeedLateness = 500 * time.Millisecond

// feedLife is how long DynamoDB keeps a feed item: past the longest access
// token lifetime and leeway, with an hour to spare.
const feedLife = auth.MaxAccessTokenTTL + auth.MaxClockLeeway + time.Hour

const bucketSeconds = int64(FeedBucket / time.Second)

func bucketOf(t time.Time) int64 {
	return floorDiv(t.Unix(), bucketSeconds) * bucketSeconds
}

func feedSortKey(at time.Time) string { return fmt.Sprintf("%013d", at.UnixMilli()) }

// newFeedKey is the sort key of a new feed item for r stamped at: the
// stamp, the entry's key and a random suffix, so that two writes of one key
// in the same millisecond are two items and an item cannot be overwritten
// by guessing its key.
func newFeedKey(r auth.Revocation, at time.Time) string {
	return feedSortKey(at) + "#" + string(r.Kind) + "#" + r.Value + "#" + randomSuffix()
}

// feedKeyStamp reads the stamp and the entry key ("kind#value") a feed
// sort key names.
func feedKeyStamp(sk string) (stamp time.Time, key string, ok bool) {
	ms, rest, found := strings.Cut(sk, "#")
	if !found || len(ms) != 13 {
		return time.Time{}, "", false
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}, "", false
	}
	i := strings.LastIndexByte(rest, '#')
	if i < 0 {
		return time.Time{}, "", false
	}
	return time.UnixMilli(n), rest[:i], true
}

// feedItem is the feed item of r (the entry as it stands) under sort key
// sk, stamped at, without its partition key.
func feedItem(r auth.Revocation, sk string, at time.Time) map[string]types.AttributeValue {
	if (r.Kind == auth.RevokeToken || r.Kind == auth.RevokeSession) && r.RevokedAt.IsZero() {
		// A token or session entry typed without revoked_at: it covers its
		// token or session whatever the time (auth.Covers), and was written
		// before this item. Replicas keep an entry for a token lifetime
		// after its revoked_at, so the item carries its write time.
		r.RevokedAt = at
	}
	it := revocationItem(r)
	delete(it, "pk")
	if e, ok := it["expires_at"]; ok {
		it["entry_expires_at"] = e
	}
	it["sk"] = str(sk)
	it["kind"], it["value"] = str(string(r.Kind)), str(r.Value)
	it["expires_at"] = seconds(at.Add(feedLife))
	return it
}

// putFeedItem writes r under sort key sk (stamped at) to every partition
// key the layout gives it (its bucket and the next, in every copy: a
// reader of either bucket, whichever copy it reads, finds it), each copy
// only if absent: a copy already there (the other writer of this state,
// the service or the stream function, got in first) is left as it is.
// With feedItemCopies, the one place that knows the layout on the write
// side.
func (s *Store) putFeedItem(ctx context.Context, r auth.Revocation, sk string, at time.Time) error {
	if s.tables.RevocationFeed == "" {
		return fmt.Errorf("revocation feed %s#%s: no feed table configured", r.Kind, r.Value)
	}
	it := feedItem(r, sk, at)
	it["layout"] = str(s.feed.String()) // feedlayout.go: a reader laid out otherwise refuses it
	if err := s.putFeedKeys(ctx, it, s.feed.WriteKeys(at, sk)); err != nil {
		return fmt.Errorf("revocation feed %s#%s: %w", r.Kind, r.Value, err)
	}
	return nil
}

// feedItemCopies reads, strongly consistent, every copy of the feed item
// under sk (stamped at), as putFeedItem writes them; missing copies are
// absent from the answer. It returns how many copies there should be.
func (s *Store) feedItemCopies(ctx context.Context, sk string, at time.Time) ([]auth.Revocation, int, error) {
	pks := s.feed.WriteKeys(at, sk)
	var out []auth.Revocation
	for start := 0; start < len(pks); start += 100 { // BatchGetItem takes 100 keys
		var ks []map[string]types.AttributeValue
		for _, b := range pks[start:min(start+100, len(pks))] {
			ks = append(ks, map[string]types.AttributeValue{"bucket": num(b), "sk": str(sk)})
		}
		got, err := s.batchGet(ctx, map[string]types.KeysAndAttributes{s.tables.RevocationFeed: keys(ks...)})
		if err != nil {
			return nil, 0, fmt.Errorf("read feed item: %w", err)
		}
		for _, items := range got {
			for _, it := range items {
				if r, ok := feedEntry(it); ok {
					out = append(out, r)
				}
			}
		}
	}
	return out, len(pks), nil
}

// putFeed appends r (the entry as it now stands) to the feed under sk
// (stamped at; newFeedKey). If the write took longer than FeedLateness, a
// reader may already have read past its stamp before it became visible:
// it is written again, stamped anew.
func (s *Store) putFeed(ctx context.Context, r auth.Revocation, sk string, at time.Time) error {
	for range 3 {
		if err := s.putFeedItem(ctx, r, sk, at); err != nil {
			return err
		}
		if s.now().Sub(at) <= FeedLateness {
			return nil
		}
		at = s.now()
		sk = newFeedKey(r, at)
	}
	return fmt.Errorf("revocation feed %s#%s: every write took longer than %s", r.Kind, r.Value, FeedLateness)
}

// putFeedKeys writes it under every partition key of keys (its "bucket"),
// up to feedParallel at a time: with copies, one revocation is many items.
func (s *Store) putFeedKeys(ctx context.Context, it item, keys []int64) error {
	put := func(key int64) error {
		one := make(item, len(it)+1)
		for k, v := range it {
			one[k] = v
		}
		one["bucket"] = num(key)
		_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.tables.RevocationFeed, Item: one,
			ConditionExpression: new("attribute_not_exists(sk)")})
		if _, exists := isConditionFailed(err); exists {
			return nil // this copy is there already: the other writer's
		}
		return err
	}
	if len(keys) <= 2 {
		for _, k := range keys {
			if err := put(k); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		slots = make(chan struct{}, feedParallel)
	)
	for _, k := range keys {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			if err := put(k); err != nil {
				mu.Lock()
				first = cmp.Or(first, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// AppendFeed writes entries to the feed, every one stamped at, with
// BatchWriteItem (25 items a call; unprocessed items again): a bulk load
// of the feed (the cold load benchmark), not the service's path, which
// writes the entry and its feed item one by one (PutRevocation).
func (s *Store) AppendFeed(ctx context.Context, at time.Time, entries []auth.Revocation) error {
	var reqs []types.WriteRequest
	for _, r := range entries {
		sk := newFeedKey(r, at)
		it := feedItem(r, sk, at)
		it["layout"] = str(s.feed.String())
		for _, key := range s.feed.WriteKeys(at, sk) {
			one := maps.Clone(it)
			one["bucket"] = num(key)
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: one}})
		}
	}
	for len(reqs) > 0 {
		n := min(25, len(reqs))
		out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{s.tables.RevocationFeed: reqs[:n]}})
		if err != nil {
			return fmt.Errorf("revocation feed: batch write: %w", err)
		}
		reqs = append(out.UnprocessedItems[s.tables.RevocationFeed], reqs[n:]...)
	}
	return nil
}

func randomSuffix() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func feedEntry(it item) (auth.Revocation, bool) {
	k := auth.RevocationKind(it.str("kind"))
	switch k {
	case auth.RevokeToken, auth.RevokeSession, auth.RevokeUser, auth.RevokeAll:
	default:
		return auth.Revocation{}, false
	}
	return auth.Revocation{Kind: k, Value: it.str("value"), RevokedAt: it.cutoff("revoked_at"),
		AllUntil: it.instant("all_until"), ExpiresAt: it.instant("entry_expires_at"), Reason: it.str("reason")}, true
}

// feedParallel bounds the Queries of one RevocationsSince in flight.
const feedParallel = 8

// RevocationsSince returns every feed entry stamped at or after from (by
// the writers' clocks), up to to at least: bucket b holds the stamps
// [b-FeedBucket, b+FeedBucket), so the bucket of to and every second one
// before it, as far back as from, cover the span: one strongly consistent
// Query per shard of this process's copy (FeedLayout.ReadKeys) for a span
// up to FeedBucket long (a sync), about one per two buckets for a longer
// one (a cold start), in parallel, each paginated. The batch carries the
// newest stamp read and DynamoDB's clock (the Date of its answers, as the
// SDK's clock skew correction reads it). An item written under another
// feed layout, or a snapshot pointer of another layout (compared at least
// every LayoutCheckEvery), fails it with replica.ErrRefused.
func (s *Store) RevocationsSince(ctx context.Context, from, to time.Time) (replica.Batch, error) {
	b, err := s.revocationsSince(ctx, from, to)
	if err != nil {
		return b, err
	}
	if err := s.checkLayout(ctx, b.StoreTime); err != nil {
		return replica.Batch{}, err
	}
	return b, nil
}

func (s *Store) revocationsSince(ctx context.Context, from, to time.Time) (replica.Batch, error) {
	buckets := s.feed.ReadKeys(from, to, s.copy)
	var (
		mu    sync.Mutex
		out   replica.Batch
		first error
		wg    sync.WaitGroup
		slots = make(chan struct{}, feedParallel)
	)
	for _, b := range buckets {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			got, err := s.queryBucket(ctx, b, from)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			out.Entries = append(out.Entries, got.Entries...)
			out.Newest = laterOf(out.Newest, got.Newest)
			out.StoreTime = laterOf(out.StoreTime, got.StoreTime)
		})
	}
	wg.Wait()
	if first != nil {
		return replica.Batch{}, first
	}
	return out, nil
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// serverTime is DynamoDB's clock in an answer: its Date header, rounded
// down to the second (RFC 9110 6.6.1), which the SDK's RecordResponseTiming
// middleware reads for its clock skew correction; zero when absent.
func (s *Store) serverClock(md middleware.Metadata) time.Time {
	if s.serverTime != nil {
		return s.serverTime().Truncate(time.Second)
	}
	t, _ := awsmiddleware.GetServerTime(md)
	return t
}

// stampOf is the write time an item's sort key starts with.
func stampOf(sk string) (time.Time, bool) {
	if len(sk) < 13 {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(sk[:13], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

func (s *Store) queryBucket(ctx context.Context, bucket int64, from time.Time) (replica.Batch, error) {
	var out replica.Batch
	in := &dynamodb.QueryInput{
		TableName:                &s.tables.RevocationFeed,
		ConsistentRead:           new(true),
		KeyConditionExpression:   new("#b = :b AND sk >= :from"), // "bucket" is a reserved word
		ExpressionAttributeNames: map[string]string{"#b": "bucket"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":b": num(bucket), ":from": str(feedSortKey(from)),
		},
	}
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return replica.Batch{}, fmt.Errorf("revocation feed bucket %s: %w", strconv.FormatInt(bucket, 10), err)
		}
		out.StoreTime = laterOf(out.StoreTime, s.serverClock(page.ResultMetadata))
		for _, it := range page.Items {
			if l := item(it).str("layout"); l != "" && l != s.feed.String() {
				return replica.Batch{}, s.layoutMismatch(ctx, "feed item "+item(it).str("sk"), l)
			}
			if r, ok := feedEntry(it); ok {
				out.Entries = append(out.Entries, r)
			}
		}
		if n := len(page.Items); n > 0 { // sorted by sk: the last is the newest
			if at, ok := stampOf(item(page.Items[n-1]).str("sk")); ok {
				out.Newest = laterOf(out.Newest, at)
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}
