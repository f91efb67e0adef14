package dynamo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
)

// streamReader reads the Revocations table's stream of one test
// environment, as Lambda's event source mapping hands it to the function:
// every record not read before, from every shard.
type streamReader struct {
	t      *testing.T
	client *dynamodbstreams.Client
	arn    string
	seen   map[string]bool
}

func newStreamReader(t *testing.T, env *testenv.Env) *streamReader {
	t.Helper()
	arn, err := localapi.StreamARN(context.Background(), env.DB, env.Tables.Revocations)
	if err != nil {
		t.Fatal(err)
	}
	if arn == "" {
		t.Fatalf("the Revocations table has no stream: these tests need DynamoDB Local (dynalite has no Streams)")
	}
	return &streamReader{t: t, client: testenv.StreamsClient(t, env.AWS), arn: arn, seen: map[string]bool{}}
}

// next returns the records written since the last call, in stream order.
func (r *streamReader) next() []events.DynamoDBEventRecord {
	r.t.Helper()
	ctx := context.Background()
	desc, err := r.client.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &r.arn})
	if err != nil {
		r.t.Fatal(err)
	}
	var out []events.DynamoDBEventRecord
	for _, sh := range desc.StreamDescription.Shards {
		it, err := r.client.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: &r.arn,
			ShardId: sh.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			r.t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			got, err := r.client.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				r.t.Fatal(err)
			}
			for _, rec := range got.Records {
				e := localapi.EventRecord(rec, r.arn, "us-east-1")
				if !r.seen[e.Change.SequenceNumber] {
					r.seen[e.Change.SequenceNumber] = true
					out = append(out, e)
				}
			}
			if len(got.Records) == 0 {
				break // an open shard's iterator never ends
			}
			iter = got.NextShardIterator
		}
	}
	return out
}

// feedItems counts the feed items of each entry key written since from.
func feedItems(t *testing.T, st *dynamo.Store, from time.Time) map[string]int {
	t.Helper()
	got, err := st.RevocationsSince(context.Background(), from, time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, r := range got.Entries {
		n[string(r.Kind)+"#"+r.Value]++
	}
	return n
}

func handPut(t *testing.T, env *testenv.Env, it map[string]types.AttributeValue) {
	t.Helper()
	if _, err := env.DB.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &env.Tables.Revocations, Item: it}); err != nil {
		t.Fatal(err)
	}
}

// TestStreamFeedsHandEntries: entries typed by hand (console, script)
// reach the feed through the stream function, as they stand; a change of
// nothing a revocation reads, a deletion and an item that is no entry add
// nothing and fail nothing; nothing secret is logged.
func TestStreamFeedsHandEntries(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	rd := newStreamReader(t, env)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	start := time.Now().Add(-time.Second)
	sec := time.Now().Unix()
	handPut(t, env, map[string]types.AttributeValue{"pk": s("jti#hand-jti"), "expires_at": n(sec + 3600)})
	handPut(t, env, map[string]types.AttributeValue{"pk": s("sid#hand-sid"), "revoked_at": n(sec)})
	handPut(t, env, map[string]types.AttributeValue{"pk": s("sub#hand-user"), "revoked_at": n(sec + 60), "reason": s("typed")})
	handPut(t, env, map[string]types.AttributeValue{"pk": s("refresh#secret-looking-value"), "revoked_at": n(sec)})
	recs := rd.next()
	if len(recs) != 4 {
		t.Fatalf("%d stream records, want 4", len(recs))
	}
	if failed := env.Store.FeedStream(ctx, recs, log); len(failed) != 0 {
		t.Fatalf("batch item failures %v", failed)
	}
	got := feedItems(t, env.Store, start)
	for _, k := range []string{"jti#hand-jti", "sid#hand-sid", "sub#hand-user"} {
		if got[k] != 1 {
			t.Errorf("%s: %d feed items, want 1", k, got[k])
		}
	}
	if len(got) != 3 {
		t.Errorf("feed keys %v, want the three entries only", got)
	}
	// The user entry's item is the entry as it stands: a cutoff typed in
	// seconds covers the whole second.
	all, _ := env.Store.RevocationsSince(ctx, start, time.Now().Add(time.Second))
	for _, r := range all.Entries {
		if r.Kind == auth.RevokeUser && !r.RevokedAt.Equal(time.UnixMilli((sec+60)*1000+999)) {
			t.Errorf("user item cutoff %v, want the end of second %d", r.RevokedAt, sec+60)
		}
	}

	// Only the reason changes; then the entry is deleted (TTL's REMOVE).
	handPut(t, env, map[string]types.AttributeValue{"pk": s("sub#hand-user"), "revoked_at": n(sec + 60), "reason": s("retyped")})
	if _, err := env.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &env.Tables.Revocations,
		Key: map[string]types.AttributeValue{"pk": s("jti#hand-jti")}}); err != nil {
		t.Fatal(err)
	}
	recs = rd.next()
	if len(recs) != 2 || recs[0].EventName != "MODIFY" || recs[1].EventName != "REMOVE" {
		t.Fatalf("records %d, want a MODIFY and a REMOVE", len(recs))
	}
	if failed := env.Store.FeedStream(ctx, recs, log); len(failed) != 0 {
		t.Fatalf("batch item failures %v", failed)
	}
	if after := feedItems(t, env.Store, start); len(after) != 3 || after["sub#hand-user"] != 1 {
		t.Errorf("after a reason change and a delete: %v, want nothing new", after)
	}
	// A hand edit that moves the cutoff is a new state: fed.
	handPut(t, env, map[string]types.AttributeValue{"pk": s("sub#hand-user"), "revoked_at": n(sec + 120)})
	env.Store.FeedStream(ctx, rd.next(), log)
	if after := feedItems(t, env.Store, start); after["sub#hand-user"] != 2 {
		t.Errorf("a moved cutoff: %d items for the user, want 2", after["sub#hand-user"])
	}
	if strings.Contains(logs.String(), "secret-looking-value") {
		t.Errorf("an item's value reached the log:\n%s", logs.String())
	}
}

// failingFeed fails every write to the feed table while fail is set, and
// counts the successful writes to the Revocations table.
type failingFeed struct {
	dynamo.API
	feed, revocations string
	fail              atomic.Bool
	entryWrites       atomic.Int32
}

func (f *failingFeed) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if *in.TableName == f.feed && f.fail.Load() {
		return nil, errors.New("feed unreachable (test)")
	}
	out, err := f.API.PutItem(ctx, in, opts...)
	if err == nil && *in.TableName == f.revocations {
		f.entryWrites.Add(1)
	}
	return out, err
}

// TestServiceRevocationFedOnce: the service's own revocation is in the
// feed once, whether the service's write or the stream function's lands
// (dedupe by feed_sk), including after a crash between the entry and the
// feed item; a feed write that fails for the stream function is a batch
// item failure, never dropped.
func TestServiceRevocationFedOnce(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	rd := newStreamReader(t, env)
	log := slog.New(slog.DiscardHandler)
	api := &failingFeed{API: env.DB, feed: env.Tables.RevocationFeed, revocations: env.Tables.Revocations}
	// The store's clock stands still: every stream record here comes
	// within FeedLateness of its stamp however slow the machine is (a late
	// one is written again under a fresh stamp, by design:
	// TestLateStreamRecordGetsAFreshStamp).
	c := &clock{t: time.Now()}
	st := dynamo.New(api, env.Tables, dynamo.WithClock(c.Now))
	start := c.Now().Add(-time.Second)

	// The normal case: the service writes entry and item; the stream
	// function finds the item and writes nothing.
	if err := st.PutRevocation(ctx, auth.NewRevocation(auth.RevokeSession, "s-normal", c.Now(), "logout")); err != nil {
		t.Fatal(err)
	}
	if failed := st.FeedStream(ctx, rd.next(), log); len(failed) != 0 {
		t.Fatalf("batch item failures %v", failed)
	}
	if got := feedItems(t, st, start)["sid#s-normal"]; got != 1 {
		t.Errorf("service revocation: %d feed items, want exactly 1", got)
	}

	// A crash (here: a failed write) between the entry and the feed item:
	// the entry stands, the service says the feed is late, and the stream
	// function writes the item.
	api.fail.Store(true)
	err := st.PutRevocation(ctx, auth.NewRevocation(auth.RevokeToken, "j-crash", c.Now(), "revoked"))
	if !errors.Is(err, auth.ErrFeedLate) {
		t.Fatalf("PutRevocation with the feed failing: %v, want ErrFeedLate", err)
	}
	recs := rd.next()
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	// The stream function cannot write either: the record is reported.
	failed := st.FeedStream(ctx, recs, log)
	if len(failed) != 1 || failed[0].ItemIdentifier != recs[0].Change.SequenceNumber {
		t.Fatalf("batch item failures %v, want the record's sequence number %s", failed, recs[0].Change.SequenceNumber)
	}
	api.fail.Store(false)
	if failed := st.FeedStream(ctx, recs, log); len(failed) != 0 { // Lambda's retry
		t.Fatalf("retry: batch item failures %v", failed)
	}
	if got := feedItems(t, st, start)["jti#j-crash"]; got != 1 {
		t.Errorf("after a crash between entry and feed: %d feed items, want 1", got)
	}
	// The same record delivered again (Lambda delivers at least once).
	st.FeedStream(ctx, recs, log)
	if got := feedItems(t, st, start)["jti#j-crash"]; got != 1 {
		t.Errorf("a record delivered twice: %d feed items, want 1", got)
	}
}

// TestLateStreamRecordGetsAFreshStamp: when the stream function finds the
// service's item missing after FeedLateness, readers may have read past
// its stamp: it writes the item under a fresh stamp, which a reader
// starting from there sees.
func TestLateStreamRecordGetsAFreshStamp(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	rd := newStreamReader(t, env)
	c := &clock{t: time.Now()}
	api := &failingFeed{API: env.DB, feed: env.Tables.RevocationFeed, revocations: env.Tables.Revocations}
	api.fail.Store(true)
	st := dynamo.New(api, env.Tables, dynamo.WithClock(c.Now))
	stamp := c.Now()
	if err := st.PutRevocation(ctx, auth.NewRevocation(auth.RevokeSession, "s-late", stamp, "logout")); !errors.Is(err, auth.ErrFeedLate) {
		t.Fatalf("PutRevocation: %v", err)
	}
	api.fail.Store(false)
	c.Set(stamp.Add(dynamo.FeedLateness + time.Second))
	if failed := st.FeedStream(ctx, rd.next(), slog.New(slog.DiscardHandler)); len(failed) != 0 {
		t.Fatal(failed)
	}
	got, err := st.RevocationsSince(ctx, stamp.Add(dynamo.FeedLateness), c.Now().Add(time.Second))
	if err != nil || len(got.Entries) != 1 || got.Entries[0].Value != "s-late" {
		t.Fatalf("a reader from past the stamp: %+v %v, want the item under a fresh stamp", got, err)
	}
}

// TestLateCompleteItemIsWrittenAgain: the service's item is all there but
// its stamp is older than FeedLateness when the stream record comes (its
// write may have become visible late: a slow first write the service then
// failed to rewrite under a fresh stamp), so readers may have read past
// it: the stream function writes the entry again, stamped now.
func TestLateCompleteItemIsWrittenAgain(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	rd := newStreamReader(t, env)
	c := &clock{t: time.Now()}
	st := dynamo.New(env.DB, env.Tables, dynamo.WithClock(c.Now))
	stamp := c.Now()
	if err := st.PutRevocation(ctx, auth.NewRevocation(auth.RevokeSession, "s-slow", stamp, "logout")); err != nil {
		t.Fatalf("PutRevocation: %v", err)
	}
	c.Set(stamp.Add(dynamo.FeedLateness + time.Second))
	if failed := st.FeedStream(ctx, rd.next(), slog.New(slog.DiscardHandler)); len(failed) != 0 {
		t.Fatal(failed)
	}
	got, err := st.RevocationsSince(ctx, stamp.Add(dynamo.FeedLateness), c.Now().Add(time.Second))
	if err != nil || len(got.Entries) != 1 || got.Entries[0].Value != "s-slow" {
		t.Fatalf("a reader from past the service's stamp: %+v %v, want the entry under a fresh stamp", got, err)
	}
}

// TestConcurrentRevocationsOfOneToken: 30 revocations of one token at
// once (each with its own clock reading, as 30 requests would) write one
// entry and one feed item: "already revoked" is decided by the
// conditional write, not by a read before it.
func TestConcurrentRevocationsOfOneToken(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	api := &failingFeed{API: env.DB, feed: env.Tables.RevocationFeed, revocations: env.Tables.Revocations}
	st := dynamo.New(api, env.Tables)
	start := time.Now().Add(-time.Second)
	base := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, 30)
	for i := range 30 {
		wg.Go(func() {
			errs[i] = st.PutRevocation(ctx, auth.NewRevocation(auth.RevokeToken, "j-busy", base.Add(time.Duration(i)*time.Millisecond), "revoked by its holder"))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("revocation %d: %v", i, err)
		}
	}
	if got := api.entryWrites.Load(); got != 1 {
		t.Errorf("%d entry writes, want 1", got)
	}
	if got := feedItems(t, st, start)["jti#j-busy"]; got != 1 {
		t.Errorf("%d feed items, want 1", got)
	}
	// A retry half a minute later still writes nothing (within the
	// store's slack; later ones are refused before, by the callers: the
	// token reads as revoked).
	if err := st.PutRevocation(ctx, auth.NewRevocation(auth.RevokeToken, "j-busy", base.Add(30*time.Second), "again")); err != nil {
		t.Fatal(err)
	}
	if got := api.entryWrites.Load(); got != 1 {
		t.Errorf("a later repeat: %d entry writes, want still 1", got)
	}
}

// TestRevocationBudget: a user's revocations are counted per window; past
// FeedBudgetPerUser the budget says no until the next window, and users
// do not share a budget.
func TestRevocationBudget(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0).Add(10 * time.Second) // 10 s into a minute
	for i := range auth.FeedBudgetPerUser {
		ok, end, err := env.Store.TakeFeedBudget(ctx, "flooder", fmt.Sprintf("jti#t%d", i), now.Add(time.Duration(i)*time.Second))
		if err != nil || !ok {
			t.Fatalf("revocation %d: ok %v err %v", i, ok, err)
		}
		if want := time.Unix(1_800_000_000, 0).Truncate(time.Minute).Add(time.Minute); !end.Equal(want) {
			t.Fatalf("window end %v, want %v", end, want)
		}
	}
	if ok, _, err := env.Store.TakeFeedBudget(ctx, "flooder", "jti#one-more", now.Add(30*time.Second)); err != nil || ok {
		t.Fatalf("revocation %d in the window: ok %v err %v, want spent", auth.FeedBudgetPerUser+1, ok, err)
	}
	if ok, _, _ := env.Store.TakeFeedBudget(ctx, "someone-else", "jti#t0", now); !ok {
		t.Error("another user's budget is spent too")
	}
	if ok, _, _ := env.Store.TakeFeedBudget(ctx, "flooder", "jti#one-more", now.Add(time.Minute)); !ok {
		t.Error("the next window's budget is spent too")
	}
	// A target already counted is free, even past the cap: revoking it
	// again writes nothing.
	if ok, _, err := env.Store.TakeFeedBudget(ctx, "flooder", "jti#t3", now.Add(40*time.Second)); err != nil || !ok {
		t.Errorf("a target counted earlier in the window, past the cap: ok %v err %v, want free", ok, err)
	}
	// Concurrent takes of one target (a stolen token revoked 40 times at
	// once) count once.
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() { env.Store.TakeFeedBudget(ctx, "victim", "jti#stolen", now) })
	}
	wg.Wait()
	for i := range auth.FeedBudgetPerUser - 1 {
		if ok, _, err := env.Store.TakeFeedBudget(ctx, "victim", fmt.Sprintf("sid#s%d", i), now); err != nil || !ok {
			t.Fatalf("the victim's own revocation %d after 40 of one stolen token: ok %v err %v", i, ok, err)
		}
	}
	// Concurrent takes of distinct targets count exactly: no more than
	// the cap succeed.
	var granted atomic.Int32
	for i := range 40 {
		wg.Go(func() {
			if ok, _, err := env.Store.TakeFeedBudget(ctx, "racer", fmt.Sprintf("jti#r%d", i), now); err == nil && ok {
				granted.Add(1)
			}
		})
	}
	wg.Wait()
	if got := granted.Load(); got != auth.FeedBudgetPerUser {
		t.Errorf("40 concurrent takes: %d granted, want %d", got, auth.FeedBudgetPerUser)
	}
}
