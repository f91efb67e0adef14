package fleet

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/shared/auth"
)

// The revocations the simulated service writes, shaped as the service
// shapes them: value lengths and reasons as shared/auth writes them (a jti
// is 16 random bytes base64url, a session id 24 bytes, a user id as
// create-user makes it), so that the items the model charges for have the
// size of the feed's real items. TestCalibration holds these sizes against
// the items shared/dynamo writes to DynamoDB Local.
type entryShape struct {
	kind   auth.RevocationKind
	value  string
	reason string
}

var shapes = map[auth.RevocationKind]entryShape{
	auth.RevokeToken:   {auth.RevokeToken, strings.Repeat("j", 22), "revoked by its holder (RFC 7009)"},
	auth.RevokeSession: {auth.RevokeSession, strings.Repeat("s", 32), "logout"},
	auth.RevokeUser:    {auth.RevokeUser, strings.Repeat("u", 36), "logout-all"},
}

// feedItem is the feed item shared/dynamo writes for r at at (its
// attributes as putFeed sets them), keyed to key.
func feedItem(r auth.Revocation, at time.Time, key int64) map[string]types.AttributeValue {
	it := map[string]types.AttributeValue{
		"bucket": &types.AttributeValueMemberN{Value: strconv.FormatInt(key, 10)},
		"sk": &types.AttributeValueMemberS{Value: fmt.Sprintf("%013d", at.UnixMilli()) + "#" + string(r.Kind) + "#" + r.Value +
			"#" + strings.Repeat("0", 16)},
		"kind":  &types.AttributeValueMemberS{Value: string(r.Kind)},
		"value": &types.AttributeValueMemberS{Value: r.Value},
		// The layout it was written under (dynamo.FeedLayout.String): "1x1"
		// here; a layout of 40 × 32 is two bytes more.
		"layout":     &types.AttributeValueMemberS{Value: "1x1"},
		"expires_at": &types.AttributeValueMemberN{Value: strconv.FormatInt(at.Add(25*time.Hour+5*time.Minute).Unix(), 10)},
	}
	if !r.RevokedAt.IsZero() {
		it["revoked_at"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(r.RevokedAt.UnixMilli(), 10)}
	}
	if !r.AllUntil.IsZero() {
		it["all_until"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(r.AllUntil.Unix(), 10)}
	}
	if !r.ExpiresAt.IsZero() {
		it["entry_expires_at"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(r.ExpiresAt.Unix(), 10)}
	}
	if r.Reason != "" {
		it["reason"] = &types.AttributeValueMemberS{Value: r.Reason}
	}
	return it
}

// shapeSize is the size of the feed item of a revocation of kind written
// at at to partition key.
func shapeSize(kind auth.RevocationKind, at time.Time, key int64) int {
	s := shapes[kind]
	r := auth.NewRevocation(kind, s.value, at, s.reason)
	return ItemSize(feedItem(r, at, key))
}
