package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/shared/auth"
)

// MFA table: hash key "pk". Two kinds of item:
//   - "totp#<user id>": a user's TOTP factor: sealed (B, the secret
//     encrypted by KMS), active (BOOL), last_step (N, the last RFC 6238
//     time step accepted), recovery (SS, hashes of unused recovery codes),
//     created_at (epoch ms);
//   - "chal#<hex SHA-256 of the token>": a login's second-factor
//     challenge: user_id, username, user_agent, jkt (the password step's
//     DPoP key thumbprint, absent without a proof), issued_ms (epoch ms:
//     a revocation cutoff of the user at or after it kills the
//     challenge), expires_ms (epoch ms,
//     checked by every read and by the conditional delete), expires_at
//     (epoch s, the TTL attribute, which deletes it later).
//
// Every write that uses something up is one conditional write: a code,
// a recovery code or a challenge is used at most once.

var _ auth.Factors = (*Store)(nil)
var _ auth.PasswordStore = (*Store)(nil)

func totpKey(userID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("totp#" + userID)}
}

func challengeKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("chal#" + id)}
}

// TOTPFactor reads a user's factor, strongly consistent; nil if none.
func (s *Store) TOTPFactor(ctx context.Context, userID string) (*auth.TOTPFactor, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.tables.MFA, Key: totpKey(userID), ConsistentRead: new(true)})
	if err != nil {
		return nil, fmt.Errorf("get TOTP factor of %s: %w", userID, err)
	}
	if out.Item == nil {
		return nil, nil
	}
	it := item(out.Item)
	step, _ := it.num("last_step")
	return &auth.TOTPFactor{UserID: userID, Sealed: it.bin("sealed"), Active: it.flag("active"), LastStep: step,
		Recovery: it.strings("recovery"), CreatedAt: it.instant("created_at")}, nil
}

// PutPendingTOTP writes f as pending, unless an active factor stands.
func (s *Store) PutPendingTOTP(ctx context.Context, f *auth.TOTPFactor) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.tables.MFA,
		Item: map[string]types.AttributeValue{
			"pk": str("totp#" + f.UserID), "sealed": bin(f.Sealed), "active": boolean(false),
			"last_step": num(0), "created_at": millis(f.CreatedAt),
		},
		ConditionExpression:       new("attribute_not_exists(pk) OR active = :no"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":no": boolean(false)},
	})
	if _, ok := isConditionFailed(err); ok {
		return auth.ErrFactorExists
	}
	if err != nil {
		return fmt.Errorf("put pending TOTP factor of %s: %w", f.UserID, err)
	}
	return nil
}

// ActivateTOTP activates the pending factor sealed as sealed.
func (s *Store) ActivateTOTP(ctx context.Context, userID string, sealed []byte, step int64, recovery []string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &s.tables.MFA,
		Key:                 totpKey(userID),
		UpdateExpression:    new("SET active = :yes, last_step = :step, recovery = :rec"),
		ConditionExpression: new("active = :no AND sealed = :sealed"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":yes": boolean(true), ":no": boolean(false), ":step": num(step), ":sealed": bin(sealed),
			":rec": &types.AttributeValueMemberSS{Value: recovery},
		},
	})
	if _, ok := isConditionFailed(err); ok {
		return auth.ErrCodeUsed
	}
	if err != nil {
		return fmt.Errorf("activate TOTP factor of %s: %w", userID, err)
	}
	return nil
}

// UseTOTPStep records step as used, on condition that it is later than
// the last one (RFC 6238 5.2).
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.tables.MFA,
		Key:                       totpKey(userID),
		UpdateExpression:          new("SET last_step = :step"),
		ConditionExpression:       new("active = :yes AND last_step < :step"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":yes": boolean(true), ":step": num(step)},
	})
	if _, ok := isConditionFailed(err); ok {
		return auth.ErrCodeUsed
	}
	if err != nil {
		return fmt.Errorf("use TOTP step of %s: %w", userID, err)
	}
	return nil
}

// UseRecoveryCode removes one recovery code hash, on condition that it is
// there.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &s.tables.MFA,
		Key:                 totpKey(userID),
		UpdateExpression:    new("DELETE recovery :h"),
		ConditionExpression: new("active = :yes AND contains(recovery, :c)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":yes": boolean(true), ":h": &types.AttributeValueMemberSS{Value: []string{hash}}, ":c": str(hash),
		},
	})
	if _, ok := isConditionFailed(err); ok {
		return auth.ErrCodeUsed
	}
	if err != nil {
		return fmt.Errorf("use recovery code of %s: %w", userID, err)
	}
	return nil
}

// DeleteTOTP removes the user's factor on condition that it is as seen:
// still pending (active = false) when seen pending, so that a factor
// confirmed since is not removed without a code; still active with the
// same sealed secret when seen active.
func (s *Store) DeleteTOTP(ctx context.Context, seen *auth.TOTPFactor) error {
	in := &dynamodb.DeleteItemInput{TableName: &s.tables.MFA, Key: totpKey(seen.UserID),
		ConditionExpression:       new("active = :no"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":no": boolean(false)}}
	if seen.Active {
		in.ConditionExpression = new("active = :yes AND sealed = :sealed")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":yes": boolean(true), ":sealed": bin(seen.Sealed)}
	}
	_, err := s.db.DeleteItem(ctx, in)
	if _, ok := isConditionFailed(err); ok {
		return auth.ErrFactorChanged
	}
	if err != nil {
		return fmt.Errorf("delete TOTP factor of %s: %w", seen.UserID, err)
	}
	return nil
}

// PutMFAChallenge writes a new challenge.
func (s *Store) PutMFAChallenge(ctx context.Context, c auth.MFAChallenge) error {
	it := map[string]types.AttributeValue{
		"pk": str("chal#" + c.ID), "user_id": str(c.UserID), "username": str(c.Username),
		"issued_ms": millis(c.IssuedAt), "expires_ms": millis(c.ExpiresAt), "expires_at": seconds(c.ExpiresAt.Add(time.Second)),
	}
	if c.UserAgent != "" {
		it["user_agent"] = str(c.UserAgent)
	}
	if c.JKT != "" {
		it["jkt"] = str(c.JKT)
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.tables.MFA, Item: it,
		ConditionExpression: new("attribute_not_exists(pk)")})
	if err != nil {
		return fmt.Errorf("put second-factor challenge: %w", err)
	}
	return nil
}

// MFAChallenge reads a challenge; nil if none.
func (s *Store) MFAChallenge(ctx context.Context, id string) (*auth.MFAChallenge, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.tables.MFA, Key: challengeKey(id), ConsistentRead: new(true)})
	if err != nil {
		return nil, fmt.Errorf("get second-factor challenge: %w", err)
	}
	if out.Item == nil {
		return nil, nil
	}
	it := item(out.Item)
	return &auth.MFAChallenge{ID: id, UserID: it.str("user_id"), Username: it.str("username"),
		UserAgent: it.str("user_agent"), JKT: it.str("jkt"), IssuedAt: it.instant("issued_ms"), ExpiresAt: it.instant("expires_ms")}, nil
}

// ConsumeMFAChallenge deletes the challenge on condition that it exists
// and is not expired at now.
func (s *Store) ConsumeMFAChallenge(ctx context.Context, id string, now time.Time) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 &s.tables.MFA,
		Key:                       challengeKey(id),
		ConditionExpression:       new("attribute_exists(pk) AND expires_ms > :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": millis(now)},
	})
	if _, ok := isConditionFailed(err); ok {
		return auth.ErrChallengeUsed
	}
	if err != nil {
		return fmt.Errorf("consume second-factor challenge: %w", err)
	}
	return nil
}

// SetPasswordHash replaces a user's password hash on condition that it is
// still old.
func (s *Store) SetPasswordHash(ctx context.Context, username, old, next string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.tables.Users,
		Key:                       usernameKey(username),
		UpdateExpression:          new("SET password_hash = :next"),
		ConditionExpression:       new("password_hash = :old"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":next": str(next), ":old": str(old)},
	})
	if _, ok := isConditionFailed(err); ok {
		return auth.ErrPasswordChanged
	}
	if err != nil {
		return fmt.Errorf("set the password hash of %s: %w", username, err)
	}
	return nil
}
