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
// with its own cutoff and expiry, all land: the entry ends with the latest
// cutoff and the latest expiry, whatever the order.
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
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
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
