package dynamo_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
	"github.com/authkit/lambda-auth/shared/replica"
)

const snapWindow = 15*time.Minute + 20*time.Second

// TestCompactSnapshot: a compaction writes the feed's entries that matter,
// merged, as a generation a replica loads cold with a short tail; within
// SnapshotEvery the next one only reads the pointer; on a quiet feed it
// moves the pointer's watermark and keeps the parts; with new items it
// writes a new generation holding them; entries that no longer matter are
// left out.
func TestCompactSnapshot(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	c := &clock{t: time.Now()}
	st := dynamo.New(env.DB, env.Tables, dynamo.WithClock(c.Now), dynamo.WithServerClock(c.Now))
	t0 := c.Now()
	old := auth.NewRevocation(auth.RevokeToken, "j-old", t0, "leak") // stops mattering after the window
	if err := st.PutRevocation(ctx, old); err != nil {
		t.Fatal(err)
	}
	c.Set(t0.Add(10 * time.Minute))
	for i := range 50 {
		if err := st.PutRevocation(ctx, auth.NewRevocation(auth.RevokeSession, fmt.Sprintf("s%d", i), c.Now(), "logout")); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutRevocation(ctx, auth.NewRevocation(auth.RevokeUser, "u1", c.Now(), "logout-all")); err != nil {
		t.Fatal(err)
	}
	c.Set(c.Now().Add(time.Second))
	first, err := st.CompactSnapshot(ctx, snapWindow)
	if err != nil {
		t.Fatal(err)
	}
	if first.Skipped || first.Moved || first.Lost || first.Entries != 52 || first.Parts != 1 {
		t.Fatalf("first compaction: %+v, want a generation of 52 entries in one part", first)
	}
	snap, err := st.Snapshot(ctx)
	if err != nil || snap.ID != first.ID || len(snap.Entries) != 52 || snap.Window != snapWindow || !snap.Watermark.Equal(first.Watermark.Truncate(time.Millisecond)) {
		t.Fatalf("snapshot: id %q, %d entries, window %v, watermark %v (%v); want %+v", snap.ID, len(snap.Entries), snap.Window, snap.Watermark, err, first)
	}
	if again, err := st.CompactSnapshot(ctx, snapWindow); err != nil || !again.Skipped {
		t.Fatalf("a compaction right after: %+v %v, want skipped", again, err)
	}

	c.Set(c.Now().Add(dynamo.SnapshotEvery + time.Second))
	moved, err := st.CompactSnapshot(ctx, snapWindow)
	if err != nil || !moved.Moved || moved.ID != first.ID || !moved.Watermark.After(first.Watermark) {
		t.Fatalf("a compaction of a quiet feed: %+v %v, want the same parts with a later watermark than %v", moved, err, first.Watermark)
	}

	// The token entry stops mattering; a new one comes.
	c.Set(t0.Add(snapWindow + 2*time.Minute))
	if err := st.PutRevocation(ctx, auth.NewRevocation(auth.RevokeToken, "j-new", c.Now(), "leak")); err != nil {
		t.Fatal(err)
	}
	c.Set(c.Now().Add(time.Second))
	next, err := st.CompactSnapshot(ctx, snapWindow)
	if err != nil || next.Skipped || next.Moved || next.ID == first.ID {
		t.Fatalf("a compaction with new items: %+v %v, want a new generation", next, err)
	}
	r := replica.New(st, replica.Options{Window: snapWindow, MaxStaleness: time.Minute, Now: c.Now})
	if err := r.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s.SnapshotID != next.ID || s.SnapshotItems != next.Entries || s.Items > 1 {
		t.Fatalf("cold load: %+v, want the new generation (%d entries) and at most one feed item", s, next.Entries)
	}
	for _, q := range []struct {
		jti, sid, sub string
		want          bool
	}{{"j-new", "", "", true}, {"", "s7", "", true}, {"", "", "u1", true}, {"j-old", "", "", false}} {
		got, _ := r.Revocations(ctx, q.jti, q.sid, q.sub)
		if (len(got) > 0) != q.want {
			t.Errorf("cold view for %+v: %+v, want present %v", q, got, q.want)
		}
	}
}

// stalePointer answers the first read of the snapshot pointer with what
// it held when the wrapper was made: a compaction that read the pointer
// just before another one replaced it.
type stalePointer struct {
	dynamo.API
	old *dynamodb.GetItemOutput
}

func (s *stalePointer) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if s.old != nil {
		out := s.old
		s.old = nil
		return out, nil
	}
	return s.API.GetItem(ctx, in, opts...)
}

// TestConcurrentCompactionsDoNotInterleave: a compaction that read the
// pointer before another compaction replaced it loses (its conditional
// put on the pointer fails) and the winner's generation stays whole.
func TestConcurrentCompactionsDoNotInterleave(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	c := &clock{t: time.Now()}
	st := dynamo.New(env.DB, env.Tables, dynamo.WithClock(c.Now), dynamo.WithServerClock(c.Now))
	if err := st.PutRevocation(ctx, auth.NewRevocation(auth.RevokeSession, "s1", c.Now(), "logout")); err != nil {
		t.Fatal(err)
	}
	c.Set(c.Now().Add(time.Second))
	if _, err := st.CompactSnapshot(ctx, snapWindow); err != nil {
		t.Fatal(err)
	}
	before, err := env.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &env.Tables.RevocationSnapshot,
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "pointer"}}, ConsistentRead: new(true)})
	if err != nil || before.Item == nil {
		t.Fatalf("pointer: %v", err)
	}
	c.Set(c.Now().Add(dynamo.SnapshotEvery + time.Second))
	if err := st.PutRevocation(ctx, auth.NewRevocation(auth.RevokeSession, "s2", c.Now(), "logout")); err != nil {
		t.Fatal(err)
	}
	c.Set(c.Now().Add(time.Second))
	winner, err := st.CompactSnapshot(ctx, snapWindow)
	if err != nil || winner.Skipped {
		t.Fatalf("winner: %+v %v", winner, err)
	}
	late := dynamo.New(&stalePointer{API: env.DB, old: before}, env.Tables, dynamo.WithClock(c.Now), dynamo.WithServerClock(c.Now))
	loser, err := late.CompactSnapshot(ctx, snapWindow)
	if err != nil || !loser.Lost {
		t.Fatalf("a compaction from a replaced pointer: %+v %v, want lost", loser, err)
	}
	snap, err := st.Snapshot(ctx)
	if err != nil || snap.ID != winner.ID || len(snap.Entries) != 2 {
		t.Fatalf("after the race: %q with %d entries (%v), want the winner %q with 2", snap.ID, len(snap.Entries), err, winner.ID)
	}
}
