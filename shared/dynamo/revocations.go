package dynamo

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/shared/auth"
)

// Revocations table: hash key "pk" = "jti#<jti>" | "sid#<session id>" |
// "sub#<user id>"; revoked_at (epoch ms; a user entry kills every session
// started at or before it), expires_at (epoch s, the TTL attribute: when
// nothing the entry covers can be valid any more), reason.

func revocationKey(kind auth.RevocationKind, value string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str(string(kind) + "#" + value)}
}

func revocationFromItem(it item) (auth.Revocation, bool) {
	kind, value, ok := strings.Cut(it.str("pk"), "#")
	if !ok {
		return auth.Revocation{}, false
	}
	switch k := auth.RevocationKind(kind); k {
	case auth.RevokeToken, auth.RevokeSession, auth.RevokeUser:
		return auth.Revocation{Kind: k, Value: value, RevokedAt: it.instant("revoked_at"),
			ExpiresAt: it.instant("expires_at"), Reason: it.str("reason")}, true
	}
	return auth.Revocation{}, false
}

// PutRevocation writes an entry. A user entry is only written if it is newer
// than the one there, so a slow, older logout-all cannot shorten a newer one;
// a token or session entry only if it lasts longer than the one there, so a
// repeated logout keeps the first entry and its reason.
func (s *Store) PutRevocation(ctx context.Context, r auth.Revocation) error {
	it := revocationKey(r.Kind, r.Value)
	it["revoked_at"] = millis(r.RevokedAt)
	it["expires_at"] = seconds(r.ExpiresAt)
	if r.Reason != "" {
		it["reason"] = str(r.Reason)
	}
	in := &dynamodb.PutItemInput{TableName: &s.tables.Revocations, Item: it}
	if r.Kind == auth.RevokeUser {
		// Replace only an older entry. revoked_at may have been typed by
		// hand in seconds (below unitSplit) or milliseconds; an entry
		// without it kills every session and is never replaced.
		in.ConditionExpression = new("attribute_not_exists(pk) OR " +
			"(revoked_at >= :split AND revoked_at < :ms) OR (revoked_at < :split AND revoked_at < :s)")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{
			// An entry in seconds T is older than r when T*1000 < ms, that
			// is T < ceil(ms/1000).
			":ms": millis(r.RevokedAt), ":s": num((r.RevokedAt.UnixMilli() + 999) / 1000), ":split": num(unitSplit),
		}
	} else {
		in.ConditionExpression = new("attribute_not_exists(pk) OR expires_at < :exp")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":exp": seconds(r.ExpiresAt)}
	}
	_, err := s.db.PutItem(ctx, in)
	if _, ok := isConditionFailed(err); ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("put revocation %s#%s: %w", r.Kind, r.Value, err)
	}
	return nil
}

// Revocations reads the jti, sid and sub entries of one token in a single
// strongly consistent BatchGetItem: the authorizer's only DynamoDB call.
func (s *Store) Revocations(ctx context.Context, jti, sid, sub string) ([]auth.Revocation, error) {
	got, err := s.batchGet(ctx, map[string]types.KeysAndAttributes{
		s.tables.Revocations: keys(
			revocationKey(auth.RevokeToken, jti),
			revocationKey(auth.RevokeSession, sid),
			revocationKey(auth.RevokeUser, sub),
		),
	})
	if err != nil {
		return nil, fmt.Errorf("revocation lookup: %w", err)
	}
	// Only the revocations table was asked: read every list of the answer,
	// so that an answer keyed otherwise (a table ARN) cannot read as empty.
	var out []auth.Revocation
	for _, items := range got {
		for _, it := range items {
			if r, ok := revocationFromItem(it); ok {
				out = append(out, r)
			}
		}
	}
	return out, nil
}
