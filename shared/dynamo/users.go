package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/shared/auth"
)

// Users table: hash key "username" (normalized), attributes user_id,
// password_hash (argon2id PHC string), disabled (BOOL), scopes (SS),
// created_at (epoch ms).
//
// Login throttle table: hash key "username", attributes failures (N,
// attempts since the last successful login), last_failure_at (epoch ms),
// locked_until (epoch ms), next_allowed (N, the attempt allowed once the lock
// ends), expires_at (epoch s, the TTL attribute).

func usernameKey(name string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"username": str(name)}
}

func userFromItem(it item) *auth.User {
	return &auth.User{
		Username:     it.str("username"),
		ID:           it.str("user_id"),
		PasswordHash: it.str("password_hash"),
		Disabled:     it.flag("disabled"),
		Scopes:       it.strings("scopes"),
		CreatedAt:    it.instant("created_at"),
	}
}

func attemptFromItem(it item) auth.Attempt {
	n, _ := it.num("failures")
	allow, _ := it.num("next_allowed")
	return auth.Attempt{Count: int(n), Allow: int(allow), LockedUntil: it.instant("locked_until")}
}

// ReserveLoginAttempt counts one login attempt in a single conditional
// UpdateItem (ADD is atomic, so parallel attempts all count), unless the
// username is locked. A record past its expires_at is ignored and started
// over with a conditional PutItem, so a count never resumes after the TTL.
//
// Errors of the login path never name the username: it may be a password
// typed into the wrong field, and the error reaches an Error log line.
func (s *Store) ReserveLoginAttempt(ctx context.Context, username string, now, expires time.Time) (auth.Attempt, error) {
	for range 4 {
		out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:        &s.tables.LoginThrottle,
			Key:              usernameKey(username),
			UpdateExpression: new("ADD failures :one SET last_failure_at = :now, expires_at = :exp"),
			ConditionExpression: new("attribute_not_exists(username) OR (expires_at > :nows AND " +
				"(attribute_not_exists(locked_until) OR locked_until <= :now))"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":one": num(1), ":now": millis(now), ":nows": seconds(now), ":exp": seconds(expires),
			},
			ReturnValues:                        types.ReturnValueAllNew,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		if err == nil {
			return attemptFromItem(out.Attributes), nil
		}
		ccf, ok := isConditionFailed(err)
		if !ok {
			return auth.Attempt{}, fmt.Errorf("count login attempt: %w", err)
		}
		// The condition fails only on an existing record, which DynamoDB
		// returns as it now is (ReturnValuesOnConditionCheckFailure ALL_OLD).
		current := item(ccf.Item)
		if !current.instant("expires_at").After(now) {
			_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
				TableName: &s.tables.LoginThrottle,
				Item: map[string]types.AttributeValue{
					"username": str(username), "failures": num(1),
					"last_failure_at": millis(now), "expires_at": seconds(expires),
				},
				ConditionExpression:       new("attribute_not_exists(expires_at) OR expires_at <= :nows"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":nows": seconds(now)},
			})
			if err == nil {
				return auth.Attempt{Count: 1}, nil
			}
			if _, ok := isConditionFailed(err); !ok {
				return auth.Attempt{}, fmt.Errorf("restart login attempts: %w", err)
			}
			continue // someone else started over first
		}
		if a := attemptFromItem(current); a.LockedUntil.After(now) {
			return a, nil
		}
		// The lock ended between the write and the read: count again.
	}
	return auth.Attempt{}, errors.New("count login attempt: too much contention")
}

// LockLogin sets a lock computed from attempt number count. The record
// must still hold at least count attempts (a successful login deleting it
// meanwhile must not leave a lock with a raised allowance on a fresh
// count), and only a lock allowing a later attempt replaces the current
// one, so the highest count of a concurrent burst wins.
func (s *Store) LockLogin(ctx context.Context, username string, count int, until, expires time.Time) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &s.tables.LoginThrottle,
		Key:              usernameKey(username),
		UpdateExpression: new("SET locked_until = :until, next_allowed = :allow, expires_at = :exp"),
		ConditionExpression: new("failures >= :count AND " +
			"(attribute_not_exists(next_allowed) OR next_allowed < :allow)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":until": millis(until), ":count": num(int64(count)), ":allow": num(int64(count + 1)), ":exp": seconds(expires),
		},
	})
	if _, ok := isConditionFailed(err); ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lock login: %w", err)
	}
	return nil
}

// ClearLoginFailures deletes the throttle record if it holds no attempt
// beyond count: attempts that arrived meanwhile stay counted.
func (s *Store) ClearLoginFailures(ctx context.Context, username string, count int) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 &s.tables.LoginThrottle,
		Key:                       usernameKey(username),
		ConditionExpression:       new("failures <= :count"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":count": num(int64(count))},
	})
	if _, ok := isConditionFailed(err); ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("clear login failures: %w", err)
	}
	return nil
}

// ErrUserExists is returned by PutUser when the username is taken.
var ErrUserExists = fmt.Errorf("user already exists")

// PutUser creates a user, or replaces it when replace is set (admin CLI).
func (s *Store) PutUser(ctx context.Context, u *auth.User, replace bool) error {
	it := map[string]types.AttributeValue{
		"username":      str(u.Username),
		"user_id":       str(u.ID),
		"password_hash": str(u.PasswordHash),
		"disabled":      boolean(u.Disabled),
		"created_at":    millis(u.CreatedAt),
	}
	if len(u.Scopes) > 0 {
		it["scopes"] = &types.AttributeValueMemberSS{Value: u.Scopes}
	}
	in := &dynamodb.PutItemInput{TableName: &s.tables.Users, Item: it}
	if !replace {
		in.ConditionExpression = new("attribute_not_exists(username)")
	}
	if _, err := s.db.PutItem(ctx, in); err != nil {
		if _, ok := isConditionFailed(err); ok {
			return fmt.Errorf("put user %s: %w", u.Username, ErrUserExists)
		}
		return fmt.Errorf("put user %s: %w", u.Username, err)
	}
	return nil
}

// User reads one user; nil if none.
func (s *Store) User(ctx context.Context, username string) (*auth.User, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.tables.Users, Key: usernameKey(username), ConsistentRead: new(true)})
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	if out.Item == nil {
		return nil, nil
	}
	return userFromItem(out.Item), nil
}

// SetUserDisabled disables or enables an existing user.
func (s *Store) SetUserDisabled(ctx context.Context, username string, disabled bool) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.tables.Users,
		Key:                       usernameKey(username),
		UpdateExpression:          new("SET disabled = :d"),
		ConditionExpression:       new("attribute_exists(username)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": boolean(disabled)},
	})
	if err != nil {
		return fmt.Errorf("set user %s disabled=%t: %w", username, disabled, err)
	}
	return nil
}
