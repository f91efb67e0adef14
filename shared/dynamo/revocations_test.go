package dynamo_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
)

func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}
func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// TestPutRevocationMerges: whatever stands in the table (written by us, or
// typed by hand: without revoked_at, in seconds, without expires_at, newer
// or older), after PutRevocation the entry read back covers at least what
// the new revocation covers, for at least as long, and still covers what
// the old one did. Against local DynamoDB.
func TestPutRevocationMerges(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	sec := now.Unix()
	r := auth.NewRevocation(auth.RevokeUser, "", now, "password replaced")
	rows := []struct {
		description string
		stored      map[string]types.AttributeValue // nil: nothing there
		wantCutoff  time.Time                       // zero: every session
		wantAll     time.Time
		wantExpiry  time.Time // zero: never
	}{
		{"nothing there", nil, now, time.Time{}, r.ExpiresAt.Truncate(time.Second)},
		{"an older entry of ours", map[string]types.AttributeValue{"revoked_at": n(now.Add(-time.Hour).UnixMilli()), "expires_at": n(now.Add(time.Hour).Unix())},
			now, time.Time{}, r.ExpiresAt.Truncate(time.Second)},
		{"a newer entry typed in seconds", map[string]types.AttributeValue{"revoked_at": n(sec + 3600), "expires_at": n(sec + 7200)},
			time.UnixMilli((sec+3600)*1000 + 999), time.Time{}, r.ExpiresAt.Truncate(time.Second)},
		{"an entry typed in seconds, same second: its cutoff is the end of that second",
			map[string]types.AttributeValue{"revoked_at": n(sec)},
			time.UnixMilli(sec*1000 + 999), time.Time{}, time.Time{}},
		{"a hand entry without revoked_at, expiring soon (the reported case)",
			map[string]types.AttributeValue{"expires_at": n(sec + 25)},
			now, time.Unix(sec+25, 0), r.ExpiresAt.Truncate(time.Second)},
		{"a hand entry without revoked_at nor expiry stays every session, forever",
			map[string]types.AttributeValue{"reason": s("frozen by hand")},
			time.Time{}, time.Time{}, time.Time{}},
		{"a revoked_at that is not a number counts as no cutoff",
			map[string]types.AttributeValue{"revoked_at": s("yesterday"), "expires_at": n(sec + 60)},
			now, time.Unix(sec+60, 0), r.ExpiresAt.Truncate(time.Second)},
	}
	for i, row := range rows {
		t.Run(row.description, func(t *testing.T) {
			user := "u" + strconv.Itoa(i)
			if row.stored != nil {
				it := map[string]types.AttributeValue{"pk": s("sub#" + user)}
				for k, v := range row.stored {
					it[k] = v
				}
				if _, err := env.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &env.Tables.Revocations, Item: it}); err != nil {
					t.Fatal(err)
				}
			}
			in := r
			in.Value = user
			if err := env.Store.PutRevocation(ctx, in); err != nil {
				t.Fatalf("PutRevocation: %v", err)
			}
			got, err := env.Store.Revocations(ctx, "x", "x", user)
			if err != nil || len(got) != 1 {
				t.Fatalf("read back: %+v %v", got, err)
			}
			e := got[0]
			if !e.RevokedAt.Equal(row.wantCutoff) || !e.AllUntil.Equal(row.wantAll) || !e.ExpiresAt.Equal(row.wantExpiry) {
				t.Fatalf("entry %+v\nwant cutoff %v, every session until %v, expiry %v", e, row.wantCutoff, row.wantAll, row.wantExpiry)
			}
			// What the new revocation covers: a session started at its
			// instant, all through its lifetime.
			for _, at := range []time.Time{now.Add(time.Minute), now.Add(24 * time.Hour), r.ExpiresAt.Add(-time.Minute)} {
				if !e.Covers(auth.Target{UserID: user, SessionStart: now}, at) {
					t.Errorf("a session started at the revocation is alive at +%v", at.Sub(now))
				}
			}
		})
	}
}

// TestPutRevocationConcurrent: many revocations of one user at once, each
// with its own cutoff and expiry: each lands or says it did not (as a 503
// would), and once the failed ones are retried, as their callers would,
// the entry ends with the latest cutoff and the latest expiry, whatever
// the order.
func TestPutRevocationConcurrent(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	base := time.Now().Truncate(time.Millisecond)
	const writers = 20
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			r := auth.NewRevocation(auth.RevokeUser, "busy", base.Add(time.Duration(i)*time.Millisecond), "w"+strconv.Itoa(i))
			r.ExpiresAt = base.Add(time.Duration(writers-i) * time.Hour) // the earliest cutoff lives longest
			errs[i] = env.Store.PutRevocation(ctx, r)
		})
	}
	wg.Wait()
	retried := 0
	for i, err := range errs {
		if err != nil { // the caller's retry after a 503
			retried++
			r := auth.NewRevocation(auth.RevokeUser, "busy", base.Add(time.Duration(i)*time.Millisecond), "w"+strconv.Itoa(i))
			r.ExpiresAt = base.Add(time.Duration(writers-i) * time.Hour)
			if err := env.Store.PutRevocation(ctx, r); err != nil {
				t.Fatalf("writer %d's retry: %v", i, err)
			}
		}
	}
	if retried > writers/2 {
		t.Errorf("%d of %d concurrent writers failed: the merge gives up too soon", retried, writers)
	}
	got, err := env.Store.Revocations(ctx, "x", "x", "busy")
	if err != nil || len(got) != 1 {
		t.Fatalf("read back: %+v %v", got, err)
	}
	if want := base.Add((writers - 1) * time.Millisecond); !got[0].RevokedAt.Equal(want) {
		t.Errorf("cutoff %v, want the latest, %v", got[0].RevokedAt, want)
	}
	if want := base.Add(writers * time.Hour).Truncate(time.Second); !got[0].ExpiresAt.Equal(want) {
		t.Errorf("expiry %v, want the latest, %v", got[0].ExpiresAt, want)
	}
}

// meddler is the DynamoDB client with a writer that changes the entry
// between every read and write of a merge.
type meddler struct {
	dynamo.API
	env *testenv.Env
	n   int
}

func (m *meddler) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := m.API.GetItem(ctx, in, opts...)
	m.n++
	m.API.PutItem(ctx, &dynamodb.PutItemInput{TableName: &m.env.Tables.Revocations, Item: map[string]types.AttributeValue{
		"pk": s("sub#contended"), "revoked_at": n(time.Now().Add(time.Hour).UnixMilli() + int64(m.n)), "expires_at": n(time.Now().Add(time.Hour).Unix()),
	}})
	return out, err
}

// TestPutRevocationNeverSilent: a merge that cannot be completed is an
// error the caller sees, not a success.
func TestPutRevocationNeverSilent(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	m := &meddler{API: env.DB, env: env}
	m.API.PutItem(ctx, &dynamodb.PutItemInput{TableName: &env.Tables.Revocations, Item: map[string]types.AttributeValue{
		"pk": s("sub#contended"), "revoked_at": n(time.Now().Add(time.Hour).UnixMilli()), "expires_at": n(time.Now().Add(time.Hour).Unix()),
	}})
	st := dynamo.New(m, env.Tables)
	if err := st.PutRevocation(ctx, auth.NewRevocation(auth.RevokeUser, "contended", time.Now(), "x")); err == nil {
		t.Fatal("a merge that never held reported success")
	}
	missing := dynamo.New(env.DB, dynamo.Tables{Revocations: "no-such-table"})
	if err := missing.PutRevocation(ctx, auth.NewRevocation(auth.RevokeSession, "s", time.Now(), "x")); err == nil {
		t.Fatal("a write to a missing table reported success")
	}
}

// clock is a settable clock for the store's feed stamps.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// TestRevocationFeed: every revocation that changes an entry lands in the
// feed once, as the entry stands after the merge, readable by write time
// across bucket boundaries with RevocationsSince; one the entry already
// covers writes nothing; nothing written before from is returned.
func TestRevocationFeed(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	c := &clock{t: time.Now().Truncate(dynamo.FeedBucket).Add(dynamo.FeedBucket - 2*time.Second)} // just before a boundary
	st := dynamo.New(env.DB, env.Tables, dynamo.WithClock(c.Now))
	start := c.Now()

	early := auth.NewRevocation(auth.RevokeToken, "j-early", start, "leak")
	if err := st.PutRevocation(ctx, early); err != nil {
		t.Fatal(err)
	}
	c.Set(start.Add(3 * time.Second)) // the next bucket
	user := auth.NewRevocation(auth.RevokeUser, "u1", c.Now(), "logout-all")
	if err := st.PutRevocation(ctx, user); err != nil {
		t.Fatal(err)
	}
	c.Set(start.Add(4 * time.Second))
	older := auth.NewRevocation(auth.RevokeUser, "u1", start.Add(-time.Hour), "an older cutoff")
	if err := st.PutRevocation(ctx, older); err != nil {
		t.Fatal(err)
	}

	got, err := st.RevocationsSince(ctx, start.Add(-time.Second), c.Now())
	if err != nil {
		t.Fatal(err)
	}
	var users []auth.Revocation
	tokens := 0
	for _, e := range got.Entries {
		switch e.Kind {
		case auth.RevokeUser:
			users = append(users, e)
		case auth.RevokeToken:
			tokens++
			if e.Value != "j-early" || !e.ExpiresAt.Equal(early.ExpiresAt.Truncate(time.Second)) {
				t.Errorf("token item %+v", e)
			}
		}
	}
	// The user: its revocation; the older one changed nothing (the entry
	// covers it, for longer) and wrote nothing: the newest stamp read is
	// the user's write.
	if !got.Newest.Equal(start.Add(3 * time.Second).Truncate(time.Millisecond)) {
		t.Errorf("newest stamp read %v, want the last feed write's %v", got.Newest, start.Add(3*time.Second))
	}
	if d := time.Since(got.StoreTime); got.StoreTime.IsZero() || d < -time.Second || d > 5*time.Second {
		t.Errorf("store time %v from the answers' Date, want about now", got.StoreTime)
	}
	if tokens != 1 || len(users) != 1 {
		t.Fatalf("feed since start: %d token and %d user items, want 1 and 1: %+v", tokens, len(users), got)
	}
	if !users[0].RevokedAt.Equal(user.RevokedAt) {
		t.Errorf("user item's cutoff %v, want the entry's %v", users[0].RevokedAt, user.RevokedAt)
	}
	// From after the first write: only the later bucket's item.
	got, err = st.RevocationsSince(ctx, start.Add(time.Second), c.Now())
	if err != nil || len(got.Entries) != 1 || got.Entries[0].Kind != auth.RevokeUser {
		t.Fatalf("feed since start+1s: %+v %v, want the user item", got, err)
	}
}

// slowFeed makes the first feed write take longer than FeedLateness by
// moving the store's clock while it is in flight.
type slowFeed struct {
	dynamo.API
	table string
	clock *clock
	slow  bool
	puts  int
}

func (s *slowFeed) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	out, err := s.API.PutItem(ctx, in, opts...)
	if *in.TableName == s.table {
		s.puts++
		if s.slow {
			s.slow = false
			s.clock.Set(s.clock.Now().Add(dynamo.FeedLateness + time.Second))
		}
	}
	return out, err
}

// TestSlowFeedWriteIsWrittenAgain: a feed write that took longer than
// FeedLateness may have become visible after a reader read past its
// stamp; it is written again with a fresh stamp, which a reader that
// started reading after the first stamp plus the lateness still finds.
func TestSlowFeedWriteIsWrittenAgain(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	c := &clock{t: time.Now()}
	api := &slowFeed{API: env.DB, table: env.Tables.RevocationFeed, clock: c, slow: true}
	st := dynamo.New(api, env.Tables, dynamo.WithClock(c.Now))
	stamp := c.Now()
	if err := st.PutRevocation(ctx, auth.NewRevocation(auth.RevokeSession, "s1", stamp, "logout")); err != nil {
		t.Fatal(err)
	}
	if api.puts != 4 {
		t.Fatalf("%d feed writes, want 4 (the slow item written again, each in two buckets)", api.puts)
	}
	got, err := st.RevocationsSince(ctx, stamp.Add(dynamo.FeedLateness+time.Millisecond), c.Now())
	if err != nil || len(got.Entries) != 1 || got.Entries[0].Value != "s1" {
		t.Fatalf("a reader from past the first stamp: %+v %v, want the rewritten item", got, err)
	}
}

// countQueries counts the Queries of the feed table.
type countQueries struct {
	dynamo.API
	table   string
	queries int
}

func (c *countQueries) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if *in.TableName == c.table {
		c.queries++
	}
	return c.API.Query(ctx, in, opts...)
}

// TestFeedQueriesPerSpan: every item is in two consecutive buckets, so a
// sync's span (up to a bucket long) is one Query even across a boundary,
// and a cold start's span of a token lifetime reads every second bucket;
// each still returns every item written in its span.
func TestFeedQueriesPerSpan(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	boundary := time.Now().Truncate(dynamo.FeedBucket)
	c := &clock{t: boundary.Add(-20 * time.Minute)}
	api := &countQueries{API: env.DB, table: env.Tables.RevocationFeed}
	st := dynamo.New(api, env.Tables, dynamo.WithClock(c.Now))
	// One token revocation every 30 s for 21 minutes, up to a second after
	// the boundary.
	var written []string
	for at := c.Now(); !at.After(boundary.Add(time.Second)); at = at.Add(30 * time.Second) {
		c.Set(at)
		id := "j" + strconv.FormatInt(at.Unix(), 10)
		if err := st.PutRevocation(ctx, auth.NewRevocation(auth.RevokeToken, id, at, "test")); err != nil {
			t.Fatal(err)
		}
		written = append(written, id)
	}
	c.Set(boundary.Add(time.Second))
	for _, tt := range []struct {
		name     string
		from     time.Time
		queries  int
		newItems int // the items written at or after from
	}{
		{"a sync across the boundary", boundary.Add(-6 * time.Second), 1, 1},
		{"a sync of a minute before the boundary", boundary.Add(-61 * time.Second), 1, 3},
		{"a span of one bucket", boundary.Add(-dynamo.FeedBucket), 1, 11},
		{"15 minutes", boundary.Add(-15 * time.Minute), 2, 31},
		{"a cold start: 15 minutes and 19 s", boundary.Add(-15*time.Minute - 19*time.Second), 3, 31},
		{"20 minutes", boundary.Add(-20 * time.Minute), 3, 41},
	} {
		api.queries = 0
		got, err := st.RevocationsSince(ctx, tt.from, c.Now())
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range got.Entries {
			seen[r.Value] = true
		}
		want := 0
		for _, id := range written {
			unix, _ := strconv.ParseInt(id[1:], 10, 64)
			if !time.Unix(unix, 0).Before(tt.from) {
				want++
				if !seen[id] {
					t.Errorf("%s: %s (written at %v) missing", tt.name, id, time.Unix(unix, 0))
				}
			}
		}
		if want != tt.newItems || api.queries != tt.queries {
			t.Errorf("%s: %d Queries for %d items, want %d Queries for %d", tt.name, api.queries, want, tt.queries, tt.newItems)
		}
	}
}
