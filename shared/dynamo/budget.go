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
// s>", attributes targets (SS: the entry keys revoked in the window, kind#value)
// and expires_at (epoch s, the TTL: two windows after the start). One item
// per user and window, so no item is shared by users, and a new window
// needs no reset.

var _ auth.FeedBudget = (*Store)(nil)

// TakeFeedBudget counts one revocation of userID's, of the entry key
// target (kind#value), in the auth.FeedBudgetWindow holding now, with one
// conditional UpdateItem: targets are a string set, so a target already
// counted in the window costs nothing however often and however
// concurrently it is revoked again (21 parallel revocations of one stolen
// token are one), and distinct targets past auth.FeedBudgetPerUser are
// refused atomically (ok false, nothing counted). end is when the window
// ends.
func (s *Store) TakeFeedBudget(ctx context.Context, userID, target string, now time.Time) (bool, time.Time, error) {
	win := int64(auth.FeedBudgetWindow / time.Second)
	start := floorDiv(now.Unix(), win) * win
	end := time.Unix(start+win, 0)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.tables.LoginThrottle,
		Key: map[string]types.AttributeValue{
			"username": str("revocations#" + userID + "#" + strconv.FormatInt(start, 10)),
		},
		UpdateExpression:    new("ADD targets :t SET expires_at = :exp"),
		ConditionExpression: new("attribute_not_exists(targets) OR size(targets) < :cap OR contains(targets, :tv)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":t": &types.AttributeValueMemberSS{Value: []string{target}}, ":tv": str(target),
			":cap": num(auth.FeedBudgetPerUser), ":exp": num(start + 2*win),
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
