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

// TestZeroCutoffSurvivesAMerge: a hand-typed user entry whose revoked_at
// is N 0 (or negative) reads as "every session"; a later PutRevocation for
// the user (a logout-all by the user, the revoke function) must not read
// it as a cutoff at the epoch and narrow the ban to "sessions started
// before now" (found by review: the fast path's condition did).
func TestZeroCutoffSurvivesAMerge(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	for _, typed := range []string{"0", "-1"} {
		t.Run("revoked_at "+typed, func(t *testing.T) {
			user := "u-" + typed
			if _, err := env.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &env.Tables.Revocations, Item: map[string]types.AttributeValue{
				"pk":         s("sub#" + user),
				"revoked_at": &types.AttributeValueMemberN{Value: typed},
				"expires_at": n(now.Add(30 * 24 * time.Hour).Unix()),
				"reason":     s("banned by hand"),
			}}); err != nil {
				t.Fatal(err)
			}
			later := auth.Target{TokenID: "j", SessionID: "s", UserID: user, SessionStart: now.Add(time.Hour)}
			covers := func() bool {
				revs, err := env.Store.Revocations(ctx, "j", "s", user)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range revs {
					if r.Covers(later, now.Add(time.Hour)) {
						return true
					}
				}
				return false
			}
			if !covers() {
				t.Fatal("the hand entry does not cover a session started in an hour (precondition)")
			}
			if err := env.Store.PutRevocation(ctx, auth.NewRevocation(auth.RevokeUser, user, now, "logout-all")); err != nil {
				t.Fatal(err)
			}
			if !covers() {
				t.Fatal("after a logout-all, a session started in an hour is no longer covered: the ban was narrowed to a cutoff")
			}
		})
	}
}
