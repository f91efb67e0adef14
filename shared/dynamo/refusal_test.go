package dynamo_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
	"github.com/authkit/lambda-auth/shared/replica"
)

// refusals records what a store refused (dynamo.WithRefusalCounter).
type refusals struct {
	mu      sync.Mutex
	reasons []string
}

func (r *refusals) count(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reasons = append(r.reasons, reason)
}

func (r *refusals) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reasons...)
}

// forgeSnapshot writes a snapshot generation of no entries, its pointer
// at watermark, straight into the snapshot table (as a role allowed to
// write it could).
func forgeSnapshot(t *testing.T, env *testenv.Env, id string, watermark, now time.Time) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Close()
	n := func(v int64) types.AttributeValue { return &types.AttributeValueMemberN{Value: fmt.Sprint(v)} }
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	for _, it := range []map[string]types.AttributeValue{
		{"pk": s(id + "#0"), "data": &types.AttributeValueMemberB{Value: buf.Bytes()}, "expires_at": n(now.Add(time.Hour).Unix())},
		{"pk": s("pointer"), "id": s(id), "parts": n(1), "watermark": n(watermark.UnixMilli()), "window": n(snapWindow.Milliseconds()),
			"entries": n(0), "made_at": n(now.UnixMilli()), "expires_at": n(now.Add(time.Hour).Unix())},
	} {
		if _, err := env.DB.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &env.Tables.RevocationSnapshot, Item: it}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSnapshotAheadOfTheStoreRefused: a snapshot whose watermark is ahead
// of DynamoDB's clock (the Date of its answer) by more than
// SnapshotAheadBound, empty, would hide every revocation stamped before
// it from a cold replica. It is refused: the replica reads the feed's
// whole window instead and denies the revoked token, and the refusal is
// counted. A forged snapshot whose watermark is within the bound is read
// (the control: the refusal is what protects; only the snapshot
// function's role may write the table, TestIAMPoliciesMatchCalls).
func TestSnapshotAheadOfTheStoreRefused(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	c := &clock{t: time.Now()}
	writer := dynamo.New(env.DB, env.Tables, dynamo.WithClock(c.Now), dynamo.WithServerClock(c.Now))
	if err := writer.PutRevocation(ctx, auth.NewRevocation(auth.RevokeToken, "j-stolen", c.Now(), "leak")); err != nil {
		t.Fatal(err)
	}
	c.Set(c.Now().Add(5 * time.Second))
	for _, tc := range []struct {
		name    string
		ahead   time.Duration
		refused bool
	}{
		{"a minute ahead", time.Minute, true},
		{"just past the bound", dynamo.SnapshotAheadBound + 1500*time.Millisecond, true},
		{"within the bound", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forgeSnapshot(t, env, "forged"+fmt.Sprint(tc.ahead.Milliseconds()), c.Now().Add(tc.ahead), c.Now())
			var got refusals
			st := dynamo.New(env.DB, env.Tables, dynamo.WithClock(c.Now), dynamo.WithServerClock(c.Now), dynamo.WithRefusalCounter(got.count))
			r := replica.New(st, replica.Options{Window: snapWindow, MaxStaleness: time.Minute, Now: c.Now})
			if err := r.Load(ctx); err != nil {
				t.Fatal(err)
			}
			hits, err := r.Revocations(ctx, "j-stolen", "", "")
			if err != nil {
				t.Fatal(err)
			}
			if tc.refused {
				if len(hits) != 1 || r.Stats().Snapshots != 0 {
					t.Errorf("a snapshot %v ahead: %d entries for the revoked jti, %d snapshots read; want it refused and the feed read", tc.ahead, len(hits), r.Stats().Snapshots)
				}
				if rs := got.get(); len(rs) != 1 || rs[0] != dynamo.RefusedSnapshotAhead {
					t.Errorf("refusals %q, want one %q", rs, dynamo.RefusedSnapshotAhead)
				}
				return
			}
			if len(hits) != 0 || r.Stats().Snapshots != 1 || len(got.get()) != 0 {
				t.Errorf("a snapshot within the bound: %d entries, %d snapshots read, refusals %q; want it read (and so the jti hidden)",
					len(hits), r.Stats().Snapshots, got.get())
			}
		})
	}
}

// TestFeedLayoutMismatchFailsClosed: a reader whose feed layout differs
// from the writers' reads part of the feed. The layout is recorded in
// every feed item and in the snapshot pointer, and the reader refuses its
// view (replica.ErrRefused: no lookup answers) with an error naming both
// layouts, in both directions (fewer shards than the writers: it sees the
// items of its shards, or the pointer; more: it sees every item), and for
// copies; a warm replica drops the view it had. Readers of the writers'
// layout read on.
func TestFeedLayoutMismatchFailsClosed(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name             string
		writers, readers dynamo.FeedLayout
		items            int
		snapshot         bool // the compaction (writers' layout) has written a pointer; no items then
	}{
		// 40 items: each in the reader's one shard with probability 1/4.
		{"fewer shards, items", dynamo.FeedLayout{Copies: 1, Shards: 4}, dynamo.FeedLayout{}, 40, false},
		{"fewer shards, pointer", dynamo.FeedLayout{Copies: 1, Shards: 4}, dynamo.FeedLayout{}, 0, true},
		{"more shards, items", dynamo.FeedLayout{}, dynamo.FeedLayout{Copies: 1, Shards: 4}, 1, false},
		{"more shards, pointer", dynamo.FeedLayout{}, dynamo.FeedLayout{Copies: 1, Shards: 4}, 0, true},
		{"more copies, pointer", dynamo.FeedLayout{}, dynamo.FeedLayout{Copies: 3, Shards: 1}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := testenv.New(t)
			c := &clock{t: time.Now()}
			writer := dynamo.New(env.DB, env.Tables, dynamo.WithClock(c.Now), dynamo.WithServerClock(c.Now), dynamo.WithFeedLayout(tc.writers))
			if tc.snapshot {
				if _, err := writer.CompactSnapshot(ctx, snapWindow); err != nil {
					t.Fatal(err)
				}
			}
			newReader := func(l dynamo.FeedLayout, got *refusals) *replica.Replica {
				st := dynamo.New(env.DB, env.Tables, dynamo.WithClock(c.Now), dynamo.WithServerClock(c.Now),
					dynamo.WithFeedLayout(l), dynamo.WithRefusalCounter(got.count))
				// A sync before every lookup: a 1 ns interval on a clock
				// that moves a microsecond at each reading.
				var ticks atomic.Int64
				now := func() time.Time { return c.Now().Add(time.Duration(ticks.Add(1)) * time.Microsecond) }
				return replica.New(st, replica.Options{Window: snapWindow, MaxStaleness: time.Minute, Now: now, SyncInterval: time.Nanosecond})
			}
			var got, control refusals
			r, same := newReader(tc.readers, &got), newReader(tc.writers, &control)
			for _, x := range []*replica.Replica{r, same} {
				if err := x.Load(ctx); err != nil && !tc.snapshot {
					t.Fatalf("load of an empty feed: %v", err)
				}
			}
			if !tc.snapshot {
				// Warm, with a view; then the writers write.
				if _, err := r.Revocations(ctx, "j-0", "", ""); err != nil {
					t.Fatalf("a reader of an empty feed: %v", err)
				}
				for i := range tc.items {
					if err := writer.PutRevocation(ctx, auth.NewRevocation(auth.RevokeToken, fmt.Sprintf("j-%d", i), c.Now(), "leak")); err != nil {
						t.Fatal(err)
					}
				}
				c.Set(c.Now().Add(time.Second))
			}
			_, err := r.Revocations(ctx, "j-0", "", "")
			if err == nil || !errors.Is(err, replica.ErrStale) {
				t.Fatalf("a reader laid out %v, writers %v: lookup error %v, want no view (ErrStale)", tc.readers, tc.writers, err)
			}
			err = r.Load(ctx)
			if !errors.Is(err, replica.ErrRefused) || !strings.Contains(err.Error(), tc.writers.String()) || !strings.Contains(err.Error(), tc.readers.String()) {
				t.Errorf("sync error %v, want ErrRefused naming %s and %s", err, tc.writers, tc.readers)
			}
			if rs := got.get(); len(rs) == 0 || rs[0] != dynamo.RefusedLayout {
				t.Errorf("refusals %q, want %q", rs, dynamo.RefusedLayout)
			}
			hits, err := same.Revocations(ctx, "j-0", "", "")
			if err != nil || len(hits) != min(tc.items, 1) || len(control.get()) != 0 {
				t.Errorf("a reader of the writers' layout: %d entries, %v, refusals %q; want %d, no error", len(hits), err, control.get(), min(tc.items, 1))
			}
		})
	}
}
