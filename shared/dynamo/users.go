package dynamo

import (
	"context"
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
// Login throttle table: hash key "username", attributes failures (N),
// last_failure_at (epoch ms), expires_at (epoch s, the TTL attribute).

func usernameKey(name string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"username": str(name)}
}

func userFromItem(it item) *auth.User {
	return &auth.User{
		Username:     it.str("username"),
		ID:           it.str("user_id"),
		PasswordHash: it.str("password_hash"),
		Disabled:     it.boolean("disabled"),
		Scopes:       it.strings("scopes"),
		CreatedAt:    it.instant("created_at"),
	}
}

// LoginRecord reads the user and its throttle record in one BatchGetItem.
func (s *Store) LoginRecord(ctx context.Context, username string) (*auth.User, *auth.Throttle, error) {
	got, err := s.batchGet(ctx, map[string][]map[string]types.AttributeValue{
		s.tables.Users:         {usernameKey(username)},
		s.tables.LoginThrottle: {usernameKey(username)},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("login record %s: %w", username, err)
	}
	var user *auth.User
	if items := got[s.tables.Users]; len(items) == 1 {
		user = userFromItem(items[0])
	}
	var th *auth.Throttle
	if items := got[s.tables.LoginThrottle]; len(items) == 1 {
		it := item(items[0])
		failures, _ := it.num("failures")
		th = &auth.Throttle{Failures: int(failures), LastFailureAt: it.instant("last_failure_at"),
			ExpiresAt: it.instant("expires_at")}
	}
	return user, th, nil
}

// RecordLoginFailure adds one failure atomically (concurrent failures all
// count), or starts a new count when fresh.
func (s *Store) RecordLoginFailure(ctx context.Context, username string, at, expires time.Time, fresh bool) error {
	var err error
	if fresh {
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: &s.tables.LoginThrottle,
			Item: map[string]types.AttributeValue{
				"username": str(username), "failures": num(1),
				"last_failure_at": millis(at), "expires_at": seconds(expires),
			},
		})
	} else {
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:        &s.tables.LoginThrottle,
			Key:              usernameKey(username),
			UpdateExpression: new("ADD failures :one SET last_failure_at = :at, expires_at = :exp"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":one": num(1), ":at": millis(at), ":exp": seconds(expires),
			},
		})
	}
	if err != nil {
		return fmt.Errorf("record login failure %s: %w", username, err)
	}
	return nil
}

// ClearLoginFailures deletes the throttle record.
func (s *Store) ClearLoginFailures(ctx context.Context, username string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.tables.LoginThrottle, Key: usernameKey(username)})
	if err != nil {
		return fmt.Errorf("clear login failures %s: %w", username, err)
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
		return nil, fmt.Errorf("get user %s: %w", username, err)
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
