package dynamo

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"strconv"
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
// order. No Scan, no transactions, no Streams.

// FeedBucket is how long a span of write times one feed partition is
// keyed by (it holds two: its own and the one before). A replica's periodic
// sync reads one bucket; a cold start reads every second bucket of the
// last access token lifetime, in parallel.
const FeedBucket = 5 * time.Minute

// FeedLateness bounds how long after its write time a feed item may become
// visible: a write that took longer (measured by the writer, from the
// stamp to the answer) is written again with a fresh stamp. Readers
// overlap their watermark by at least this much plus the clock skew
// between writers and readers.
const FeedLateness = 2 * time.Second

// feedLife is how long DynamoDB keeps a feed item: past the longest access
// token lifetime and leeway, with an hour to spare.
const feedLife = auth.MaxAccessTokenTTL + auth.MaxClockLeeway + time.Hour

const bucketSeconds = int64(FeedBucket / time.Second)

func bucketOf(t time.Time) int64 {
	return floorDiv(t.Unix(), bucketSeconds) * bucketSeconds
}

func feedSortKey(at time.Time) string { return fmt.Sprintf("%013d", at.UnixMilli()) }

// putFeed appends r (the entry as it now stands) to the feed. If the write
// took longer than FeedLateness, a reader may already have read past its
// stamp before it became visible: it is written again, stamped anew.
func (s *Store) putFeed(ctx context.Context, r auth.Revocation) error {
	if s.tables.RevocationFeed == "" {
		return fmt.Errorf("revocation feed %s#%s: no feed table configured", r.Kind, r.Value)
	}
	for range 3 {
		at := s.now()
		it := feedItem(r, at)
		// Its bucket and the next, in every copy of the layout: a reader
		// of either bucket, whichever copy it reads, finds it.
		if err := s.putFeedKeys(ctx, it, s.feed.WriteKeys(at, item(it).str("sk"))); err != nil {
			return fmt.Errorf("revocation feed %s#%s: %w", r.Kind, r.Value, err)
		}
		if s.now().Sub(at) <= FeedLateness {
			return nil
		}
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

// feedItem is r's feed item stamped at, without its bucket.
func feedItem(r auth.Revocation, at time.Time) map[string]types.AttributeValue {
	it := revocationItem(r)
	delete(it, "pk")
	if e, ok := it["expires_at"]; ok {
		it["entry_expires_at"] = e
	}
	// A random suffix: two writes of one key in the same millisecond
	// are two items, and an item cannot be overwritten by guessing its key.
	it["sk"] = str(feedSortKey(at) + "#" + string(r.Kind) + "#" + r.Value + "#" + randomSuffix())
	it["kind"], it["value"] = str(string(r.Kind)), str(r.Value)
	it["expires_at"] = seconds(at.Add(feedLife))
	return it
}

// AppendFeed writes entries to the feed, every one stamped at, with
// BatchWriteItem (25 items a call; unprocessed items again): a bulk load
// of the feed (the cold load benchmark), not the service's path, which
// writes the entry and its feed item one by one (PutRevocation).
func (s *Store) AppendFeed(ctx context.Context, at time.Time, entries []auth.Revocation) error {
	var reqs []types.WriteRequest
	for _, r := range entries {
		it := feedItem(r, at)
		for _, key := range s.feed.WriteKeys(at, item(it).str("sk")) {
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
// SDK's clock skew correction reads it).
func (s *Store) RevocationsSince(ctx context.Context, from, to time.Time) (replica.Batch, error) {
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
