package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/authkit/lambda-auth/shared/dpop"
)

// DPoPReplay is a dpop.Replay shared by every process of a fleet: one
// conditional PutItem per accepted proof in its own table (DPOP_REPLAY_TABLE),
// so that a proof is accepted once in the whole fleet (RFC 9449 11.1),
// however many authorizer containers a thief spreads replays over.
//
// An item's key is pk = base64url(SHA-256(jkt NUL jti)): 43 bytes whatever
// the client's jti, and nothing the client chose is stored as it is. It
// carries expires_at (Unix seconds), the end of the proof's iat window, as
// the table's TTL attribute; since DynamoDB deletes expired items within
// days, not at once, the write also succeeds over an item whose expires_at
// is past (its proof is refused by its iat anyway).
type DPoPReplay struct {
	db    API
	table string
	now   func() time.Time
}

var _ dpop.Replay = (*DPoPReplay)(nil)

// NewDPoPReplay returns the shared replay store over table, which reads
// the time from now (time.Now when nil).
func NewDPoPReplay(db API, table string, now func() time.Time) *DPoPReplay {
	if now == nil {
		now = time.Now
	}
	return &DPoPReplay{db: db, table: table, now: now}
}

// Seen implements dpop.Replay: one PutItem, conditional on no live item of
// the same key (attribute_not_exists, or one whose expires_at is past).
// The condition failing means the proof was accepted before; any other
// error means the store could not tell, and the caller refuses the proof
// (fail closed).
func (r *DPoPReplay) Seen(ctx context.Context, jkt, jti string, until time.Time) (bool, error) {
	h := sha256.New()
	h.Write([]byte(jkt))
	h.Write([]byte{0}) // a thumbprint holds no NUL: (jkt, jti) pairs never collide
	h.Write([]byte(jti))
	key := base64.RawURLEncoding.EncodeToString(h.Sum(nil))
	// Rounded up: the item outlives the window by less than a second.
	exp := until.Add(time.Second - 1).Unix()
	_, err := r.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 &r.table,
		Item:                      item{"pk": str(key), "expires_at": num(exp)},
		ConditionExpression:       new("attribute_not_exists(pk) OR expires_at < :now"),
		ExpressionAttributeValues: item{":now": num(r.now().Unix())},
	})
	if err == nil {
		return false, nil
	}
	if _, ok := isConditionFailed(err); ok {
		return true, nil
	}
	return false, fmt.Errorf("record dpop proof in %s: %w", r.table, err)
}
