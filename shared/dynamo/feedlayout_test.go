package dynamo_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
)

// The layout's keys, pure: slot 0 is the bucket's start (the original
// keys); no two (bucket, slot) pairs share a key; every key a write goes
// to is read by the reader of its copy for a span holding the write, and
// by no reader of another copy.
func TestFeedLayoutKeys(t *testing.T) {
	at := time.Unix(1_796_000_123, 0)
	b := at.Unix() - at.Unix()%300
	if got := dynamo.FeedKey(b, 0); got != b {
		t.Errorf("slot 0 of bucket %d keyed %d, want the bucket itself", b, got)
	}
	seen := map[int64]string{}
	for _, bucket := range []int64{b, b + 300, b + 600} {
		for slot := range 50 {
			k := dynamo.FeedKey(bucket, slot)
			if prev, dup := seen[k]; dup {
				t.Fatalf("key %d for bucket %d slot %d and %s", k, bucket, slot, prev)
			}
			seen[k] = fmt.Sprintf("bucket %d slot %d", bucket, slot)
			if start, _ := dynamo.FeedKeySpan(k); start.Unix() != bucket-300 {
				t.Errorf("FeedKeySpan(%d) starts at %d, want %d", k, start.Unix(), bucket-300)
			}
		}
	}
	for _, l := range []dynamo.FeedLayout{{}, {Copies: 1, Shards: 1}, {Copies: 3, Shards: 1}, {Copies: 1, Shards: 4}, {Copies: 5, Shards: 8}} {
		copies := max(l.Copies, 1)
		for i := range 40 {
			w := at.Add(time.Duration(i) * 7 * time.Second)
			sk := fmt.Sprintf("%013d#jti#j%d#0123456789abcdef", w.UnixMilli(), i)
			keys := l.WriteKeys(w, sk)
			if len(keys) != 2*copies {
				t.Fatalf("%+v: %d write keys, want %d (two buckets per copy)", l, len(keys), 2*copies)
			}
			for c := range copies {
				for _, span := range []struct{ from, to time.Time }{{w.Add(-6 * time.Second), w.Add(time.Second)}, {w.Add(-15 * time.Minute), w.Add(time.Minute)}} {
					read := map[int64]bool{}
					for _, k := range l.ReadKeys(span.from, span.to, c) {
						read[k] = true
					}
					hits := 0
					for j, k := range keys {
						if read[k] {
							hits++
							if j/2 != c {
								t.Errorf("%+v: the reader of copy %d reads key %d of copy %d", l, c, k, j/2)
							}
						}
					}
					if hits == 0 {
						t.Errorf("%+v: the reader of copy %d misses the item written at %v for the span %v..%v", l, c, w, span.from, span.to)
					}
				}
			}
		}
	}
	if err := (dynamo.FeedLayout{Copies: 100, Shards: 100}).Validate(); err == nil {
		t.Error("a layout of 10,000 slots validated")
	}
}

// countPuts counts the PutItems of the feed table.
type countPuts struct {
	dynamo.API
	table string
	puts  int
}

func (c *countPuts) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if *in.TableName == c.table {
		c.puts++
	}
	return c.API.PutItem(ctx, in, opts...)
}

// TestFeedLayoutStore: with copies and shards, a revocation is written to
// both buckets of every copy, and a reader of any copy (a Store of its
// own, as each authorizer container has) finds every revocation, across a
// bucket boundary, with one Query per shard. Against local DynamoDB.
func TestFeedLayoutStore(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	layout := dynamo.FeedLayout{Copies: 3, Shards: 4}
	c := &clock{t: time.Now().Truncate(dynamo.FeedBucket).Add(dynamo.FeedBucket - 5*time.Second)}
	api := &countPuts{API: env.DB, table: env.Tables.RevocationFeed}
	writer := dynamo.New(api, env.Tables, dynamo.WithClock(c.Now), dynamo.WithFeedLayout(layout))
	start := c.Now()
	var want []string
	for i := range 10 { // 10 s, across the boundary
		id := fmt.Sprintf("j-%d", i)
		if err := writer.PutRevocation(ctx, auth.NewRevocation(auth.RevokeToken, id, c.Now(), "test")); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
		c.Set(c.Now().Add(time.Second))
	}
	if api.puts != 10*2*layout.Copies {
		t.Errorf("%d feed writes for 10 revocations, want %d (two buckets × %d copies)", api.puts, 10*2*layout.Copies, layout.Copies)
	}
	// Readers pick their copy at random: 12 of them read every copy but
	// with a chance of 3 × (2/3)^12 (under 3 %); TestFeedLayoutKeys
	// covers every copy's keys.
	for r := range 12 {
		q := &countQueries{API: env.DB, table: env.Tables.RevocationFeed}
		reader := dynamo.New(q, env.Tables, dynamo.WithClock(c.Now), dynamo.WithFeedLayout(layout))
		got, err := reader.RevocationsSince(ctx, start.Add(-time.Second), c.Now())
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range got {
			seen[e.Value] = true
		}
		for _, id := range want {
			if !seen[id] {
				t.Fatalf("reader %d misses %s: %v", r, id, seen)
			}
		}
		if q.queries != layout.Shards {
			t.Errorf("reader %d: %d Queries for a 10 s span, want one per shard (%d)", r, q.queries, layout.Shards)
		}
	}
}
