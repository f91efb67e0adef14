package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/auth"
)

// TestGlobalCutoffEveryReader: the global entry (all#*) is written and
// merged like a user entry (one typed by hand in seconds covers the whole
// second, and a revoke-all later in that second keeps it so), goes to the
// feed, and every read of the store returns it with the keys it was asked
// for: the authorizer's strict lookup, login's UserRevocations, refresh's
// SessionStanding, the session list's UserSessions. Against local DynamoDB.
func TestGlobalCutoffEveryReader(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	sec := time.Now().Unix()
	if _, err := env.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &env.Tables.Revocations,
		Item: map[string]types.AttributeValue{"pk": s("all#*"), "revoked_at": n(sec), "expires_at": n(sec + 3600)}}); err != nil {
		t.Fatal(err)
	}
	later := time.UnixMilli(sec*1000 + 600)
	if err := env.Store.PutRevocation(ctx, auth.NewRevocation(auth.RevokeAll, auth.AllValue, later, "key compromised")); err != nil {
		t.Fatal(err)
	}
	endOfSecond := time.UnixMilli(sec*1000 + 999)
	isGlobal := func(what string, revs []auth.Revocation) {
		t.Helper()
		for _, r := range revs {
			if r.Kind == auth.RevokeAll {
				if r.Value != auth.AllValue || !r.RevokedAt.Equal(endOfSecond) {
					t.Errorf("%s: global entry %+v, want cutoff %v (the typed second, rounded up)", what, r, endOfSecond)
				}
				if !r.Covers(auth.Target{UserID: "whoever", SessionStart: later.Add(time.Millisecond)}, later) {
					t.Errorf("%s: a session started after the revoke-all, in the typed second, is left alive", what)
				}
				return
			}
		}
		t.Errorf("%s: no global entry among %+v", what, revs)
	}

	revs, err := env.Store.Revocations(ctx, "j", "s", "u1")
	if err != nil {
		t.Fatal(err)
	}
	isGlobal("authorizer lookup (strict)", revs)

	if err := env.Store.PutRevocation(ctx, auth.NewRevocation(auth.RevokeUser, "u1", later, "logout-all")); err != nil {
		t.Fatal(err)
	}
	revs, err = env.Store.UserRevocations(ctx, "u1")
	if err != nil || len(revs) != 2 {
		t.Fatalf("UserRevocations: %+v %v, want the user's entry and the global one", revs, err)
	}
	isGlobal("login", revs)
	revs, err = env.Store.UserRevocations(ctx, "u2")
	if err != nil || len(revs) != 1 {
		t.Fatalf("UserRevocations of a user without entry: %+v %v, want the global one", revs, err)
	}

	u := env.CreateUser(t, "gabi", "a long enough password")
	start := later.Add(-time.Minute)
	sess := &auth.Session{ID: "s-gabi-0000000000000000000000000", UserID: u.ID, Username: u.Username, ClientID: "web",
		TokenHash: make([]byte, 32), CreatedAt: start, RotatedAt: start, LastUsedAt: start, ExpiresAt: later.Add(time.Hour)}
	if err := env.Store.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	st, err := env.Store.SessionStanding(ctx, sess)
	if err != nil {
		t.Fatal(err)
	}
	isGlobal("refresh (SessionStanding)", st.Revocations)
	found, err := env.Store.UserSessions(ctx, u.ID, later)
	if err != nil {
		t.Fatal(err)
	}
	isGlobal("session list (UserSessions)", found.Revocations)

	feed, err := env.Store.RevocationsSince(ctx, time.Now().Add(-time.Minute), time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// The feed holds the revocation as given, then the entry as it stood
	// after the merge: a replica merges them.
	var merged []auth.Revocation
	for _, e := range feed.Entries {
		if e.Kind != auth.RevokeAll {
			continue
		}
		if len(merged) == 0 {
			merged = append(merged, e)
		} else {
			merged[0] = auth.Merge(merged[0], e)
		}
	}
	isGlobal("revocation feed, merged", merged)
}
