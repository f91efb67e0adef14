package dynamo

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/shared/auth"
)

// Revocation budgets live in the login throttle table, beside the login
// attempt counters (both are short-lived per-principal counters with a
// TTL): hash key "username" = "revocations#<user id>#<window start, epoch
// s>", attributes count (N) and expires_at (epoch s, the TTL: two windows
// after the start). One item per user and window, so no item is shared by
// users, and a new window needs no reset.

var _ auth.FeedBudget = (*Store)(nil)

// TakeFeedBudget counts one revocation of userID's in the
// auth.FeedBudgetWindow holding now, with one conditional UpdateItem (ADD
// is atomic, so concurrent requests all count): ok is false when the
// window's auth.FeedBudgetPerUser are spent (nothing is counted then).
// end is when the window ends.
func (s *Store) TakeFeedBudget(ctx context.Context, userID string, now time.Time) (bool, time.Time, error) {
	win := int64(auth.FeedBudgetWindow / time.Second)
	start := floorDiv(now.Unix(), win) * win
	end := time.Unix(start+win, 0)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.tables.LoginThrottle,
		Key: map[string]types.AttributeValue{
			"username": str("revocations#" + userID + "#" + strconv.FormatInt(start, 10)),
		},
		UpdateExpression:         new("ADD #c :one SET expires_at = :exp"),
		ConditionExpression:      new("attribute_not_exists(#c) OR #c < :cap"),
		ExpressionAttributeNames: map[string]string{"#c": "count"}, // a reserved word
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": num(1), ":cap": num(auth.FeedBudgetPerUser), ":exp": num(start + 2*win),
		},
	})
	if _, spent := isConditionFailed(err); spent {
		return false, end, nil
	}
	if err != nil {
		return false, end, fmt.Errorf("count revocation budget: %w", err)
	}
	return true, end, nil
}
