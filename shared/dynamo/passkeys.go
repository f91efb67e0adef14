package dynamo

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/shared/auth"
)

// Passkeys table: hash key "pk", two item kinds.
//   - "cred#<credential id, base64url>": a credential record (auth.Passkey):
//     owner (the user id; the by-owner index's hash key), username,
//     user_handle (B), public_key (B), sign_count (N), up, uv, be, bs
//     (BOOL), transports (SS), aaguid (B), attestation_format, attachment,
//     created_at and last_used_at (epoch ms), clone_warning (BOOL, set
//     once a counter went back) with clone_count (N, the counter then).
//   - "user#<user id>": the user's WebAuthn user handle, user_handle (B).
//
// Sign-in reads a credential by its id (GetItem); the passkey list is one
// Query of the sparse by-owner index (only credential items carry owner).
//
// Passkey challenges table: hash key "challenge" (auth.PasskeyChallengeKey),
// ceremony, user_id (registration only), state (B), expires_at (epoch s,
// the TTL attribute).

// PasskeysByOwnerIndex is the passkeys table's by-owner index: a user's
// credentials, newest first.
const PasskeysByOwnerIndex = "by-owner"

var _ auth.PasskeyStore = (*Store)(nil)

func credentialKey(id []byte) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("cred#" + base64.RawURLEncoding.EncodeToString(id))}
}

func passkeyUserKey(userID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("user#" + userID)}
}

// passkeyID is a credential id in errors and logs: its first bytes only
// (it is no secret, but a full id is long and names one authenticator).
func passkeyID(id []byte) string {
	s := base64.RawURLEncoding.EncodeToString(id)
	if len(s) > 12 {
		s = s[:12] + "…"
	}
	return s
}

func u32(v uint32) types.AttributeValue { return num(int64(v)) }

func passkeyFromItem(it item) *auth.Passkey {
	count, _ := it.num("sign_count")
	id, _ := base64.RawURLEncoding.DecodeString(it.str("credential_id"))
	return &auth.Passkey{
		ID: id, UserID: it.str("owner"), Username: it.str("username"), UserHandle: it.bin("user_handle"),
		PublicKey: it.bin("public_key"), SignCount: uint32(count),
		UserPresent: it.flag("up"), UserVerified: it.flag("uv"), BackupEligible: it.flag("be"), BackupState: it.flag("bs"),
		Transports: it.strings("transports"), AAGUID: it.bin("aaguid"), AttestationFormat: it.str("attestation_format"),
		Attachment: it.str("attachment"), CreatedAt: it.instant("created_at"), LastUsedAt: it.instant("last_used_at"),
		CloneWarning: it.flag("clone_warning"),
	}
}

// PasskeyUserHandle returns the user's WebAuthn user handle, storing fresh
// when there is none (a conditional PutItem; the loser of two first
// registrations reads the winner's).
func (s *Store) PasskeyUserHandle(ctx context.Context, userID string, fresh []byte) ([]byte, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.tables.Passkeys, Key: passkeyUserKey(userID), ConsistentRead: new(true),
	})
	if err != nil {
		return nil, fmt.Errorf("read the passkey user handle of %s: %w", userID, err)
	}
	if h := item(out.Item).bin("user_handle"); len(h) > 0 {
		return h, nil
	}
	it := passkeyUserKey(userID)
	it["user_handle"] = bin(fresh)
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.tables.Passkeys, Item: it, ConditionExpression: new("attribute_not_exists(pk)"),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if ccf, ok := isConditionFailed(err); ok {
		if h := item(ccf.Item).bin("user_handle"); len(h) > 0 {
			return h, nil
		}
		return nil, fmt.Errorf("store the passkey user handle of %s: an item without one is in the way", userID)
	}
	if err != nil {
		return nil, fmt.Errorf("store the passkey user handle of %s: %w", userID, err)
	}
	return fresh, nil
}

// CreatePasskey stores a new credential record (never over another).
func (s *Store) CreatePasskey(ctx context.Context, p *auth.Passkey) error {
	it := credentialKey(p.ID)
	for k, v := range map[string]types.AttributeValue{
		"credential_id": str(base64.RawURLEncoding.EncodeToString(p.ID)),
		"owner":         str(p.UserID), "username": str(p.Username), "user_handle": bin(p.UserHandle),
		"public_key": bin(p.PublicKey), "sign_count": u32(p.SignCount),
		"up": boolean(p.UserPresent), "uv": boolean(p.UserVerified), "be": boolean(p.BackupEligible), "bs": boolean(p.BackupState),
		"created_at": millis(p.CreatedAt), "last_used_at": millis(p.LastUsedAt),
	} {
		it[k] = v
	}
	if len(p.Transports) > 0 {
		it["transports"] = &types.AttributeValueMemberSS{Value: p.Transports}
	}
	if len(p.AAGUID) > 0 {
		it["aaguid"] = bin(p.AAGUID)
	}
	if p.AttestationFormat != "" {
		it["attestation_format"] = str(p.AttestationFormat)
	}
	if p.Attachment != "" {
		it["attachment"] = str(p.Attachment)
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.tables.Passkeys, Item: it, ConditionExpression: new("attribute_not_exists(pk)"),
	})
	if _, ok := isConditionFailed(err); ok {
		return auth.ErrPasskeyExists
	}
	if err != nil {
		return fmt.Errorf("store passkey %s: %w", passkeyID(p.ID), err)
	}
	return nil
}

// Passkey reads a credential record, strongly consistent; nil if none.
func (s *Store) Passkey(ctx context.Context, id []byte) (*auth.Passkey, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.tables.Passkeys, Key: credentialKey(id), ConsistentRead: new(true),
	})
	if err != nil {
		return nil, fmt.Errorf("read passkey %s: %w", passkeyID(id), err)
	}
	if out.Item == nil {
		return nil, nil
	}
	return passkeyFromItem(out.Item), nil
}

// UserPasskeys lists a user's credential records, newest first, in one
// Query of the by-owner index (eventually consistent: one registered a
// moment ago may be missing). A user has a handful; past one 1 MB page the
// rest is not listed.
func (s *Store) UserPasskeys(ctx context.Context, userID string) ([]auth.Passkey, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &s.tables.Passkeys, IndexName: new(PasskeysByOwnerIndex),
		KeyConditionExpression:    new("#owner = :u"),
		ExpressionAttributeNames:  map[string]string{"#owner": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":u": str(userID)},
		ScanIndexForward:          new(false),
	})
	if err != nil {
		return nil, fmt.Errorf("query the passkeys of %s: %w", userID, err)
	}
	list := make([]auth.Passkey, 0, len(out.Items))
	for _, it := range out.Items {
		list = append(list, *passkeyFromItem(it))
	}
	return list, nil
}

// RecordPasskeyUse stores a verified assertion's counter and flags, if
// the counter is still prev and the record unflagged.
func (s *Store) RecordPasskeyUse(ctx context.Context, id []byte, prev uint32, u auth.PasskeyUse) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.tables.Passkeys, Key: credentialKey(id),
		UpdateExpression: new("SET sign_count = :n, up = :up, uv = :uv, be = :be, bs = :bs, last_used_at = :at"),
		ConditionExpression: new("attribute_exists(pk) AND sign_count = :prev AND " +
			"(attribute_not_exists(clone_warning) OR clone_warning = :false)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n": u32(u.SignCount), ":prev": u32(prev), ":up": boolean(u.UserPresent), ":uv": boolean(u.UserVerified),
			":be": boolean(u.BackupEligible), ":bs": boolean(u.BackupState), ":at": millis(u.At), ":false": boolean(false),
		},
	})
	if _, ok := isConditionFailed(err); ok {
		return fmt.Errorf("passkey %s changed meanwhile: %w", passkeyID(id), auth.ErrPasskeyRefused)
	}
	if err != nil {
		return fmt.Errorf("record the use of passkey %s: %w", passkeyID(id), err)
	}
	return nil
}

// FlagPasskeyClone marks a credential as possibly cloned, with the counter
// that showed it.
func (s *Store) FlagPasskeyClone(ctx context.Context, id []byte, presented uint32, at time.Time) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.tables.Passkeys, Key: credentialKey(id),
		UpdateExpression:    new("SET clone_warning = :t, clone_count = :n, clone_at = :at"),
		ConditionExpression: new("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":t": boolean(true), ":n": u32(presented), ":at": millis(at),
		},
	})
	if _, ok := isConditionFailed(err); ok {
		return nil // deleted meanwhile: nothing left to flag
	}
	if err != nil {
		return fmt.Errorf("flag passkey %s: %w", passkeyID(id), err)
	}
	return nil
}

// DeletePasskey deletes one of the user's credential records: the
// condition names the owner, so another user's id is ErrPasskeyNotFound.
func (s *Store) DeletePasskey(ctx context.Context, userID string, id []byte) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.tables.Passkeys, Key: credentialKey(id),
		ConditionExpression:       new("#owner = :u"),
		ExpressionAttributeNames:  map[string]string{"#owner": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":u": str(userID)},
	})
	if _, ok := isConditionFailed(err); ok {
		return auth.ErrPasskeyNotFound
	}
	if err != nil {
		return fmt.Errorf("delete passkey %s: %w", passkeyID(id), err)
	}
	return nil
}

// PutPasskeyChallenge stores a new ceremony challenge.
func (s *Store) PutPasskeyChallenge(ctx context.Context, c auth.PasskeyChallenge) error {
	it := map[string]types.AttributeValue{
		"challenge": str(c.Key), "ceremony": str(string(c.Ceremony)), "state": bin(c.State),
		"expires_at": seconds(c.ExpiresAt), "expires_ms": millis(c.ExpiresAt),
	}
	if c.UserID != "" {
		it["user_id"] = str(c.UserID)
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.tables.PasskeyChallenges, Item: it, ConditionExpression: new("attribute_not_exists(challenge)"),
	})
	if err != nil {
		return fmt.Errorf("store a passkey challenge: %w", err)
	}
	return nil
}

// TakePasskeyChallenge consumes a challenge in one conditional DeleteItem
// (ReturnValues ALL_OLD): it exists, is for this ceremony and user, and is
// not expired (DynamoDB's TTL deletes lazily, up to days later, so the
// condition reads expires_ms itself). Two answers to one challenge: one
// delete wins, the other's condition fails.
func (s *Store) TakePasskeyChallenge(ctx context.Context, key string, c auth.PasskeyCeremony, userID string, now time.Time) (*auth.PasskeyChallenge, error) {
	cond := "attribute_exists(challenge) AND ceremony = :c AND expires_ms > :now AND "
	vals := map[string]types.AttributeValue{":c": str(string(c)), ":now": millis(now)}
	if userID == "" {
		cond += "attribute_not_exists(user_id)"
	} else {
		cond += "user_id = :u"
		vals[":u"] = str(userID)
	}
	out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.tables.PasskeyChallenges, Key: map[string]types.AttributeValue{"challenge": str(key)},
		ConditionExpression: &cond, ExpressionAttributeValues: vals, ReturnValues: types.ReturnValueAllOld,
	})
	if _, ok := isConditionFailed(err); ok {
		return nil, auth.ErrChallengeNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("take a passkey challenge: %w", err)
	}
	it := item(out.Attributes)
	return &auth.PasskeyChallenge{Key: it.str("challenge"), Ceremony: auth.PasskeyCeremony(it.str("ceremony")),
		UserID: it.str("user_id"), State: it.bin("state"), ExpiresAt: it.instant("expires_ms")}, nil
}
