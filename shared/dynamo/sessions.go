package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/shared/auth"
)

// Sessions table: hash key "session_id"; attributes user_id, username,
// client_id, scope, token_hash (B, SHA-256 of the current refresh token),
// prev_hash (B), retired (BS, 16-byte prefixes of every older hash),
// created_at, rotated_at, last_used_at, revoked_at (epoch ms),
// revoke_reason, user_agent (as the device sent it at login), and
// expires_at (epoch s: the absolute end of the session and the TTL
// attribute), live_user (the user id while the session is not marked
// ended). The live-by-user index (live_user, created_at) is sparse: a
// session leaves it when EndSession marks it, so ended sessions, however
// many, never push live ones out of the session list's Query page. It
// projects what the list shows and never a hash.

// UserSessionsIndex is the sessions table's global secondary index by
// user: hash key live_user, range key created_at (template.yaml).
const UserSessionsIndex = "live-by-user"

func sessionKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"session_id": str(id)}
}

func sessionFromItem(it item) *auth.Session {
	sess := &auth.Session{
		ID:         it.str("session_id"),
		UserID:     it.str("user_id"),
		Username:   it.str("username"),
		ClientID:   it.str("client_id"),
		Scope:      it.str("scope"),
		TokenHash:  it.bin("token_hash"),
		PrevHash:   it.bin("prev_hash"),
		Retired:    it.binSet("retired"),
		CreatedAt:  it.instant("created_at"),
		RotatedAt:  it.instant("rotated_at"),
		LastUsedAt: it.instant("last_used_at"),
		ExpiresAt:  it.instant("expires_at"),
		RevokedAt:  it.instant("revoked_at"),
		Reason:     it.str("revoke_reason"),
		UserAgent:  it.str("user_agent"),
		AMR:        it.strings("amr"),
		AuthTime:   it.instant("auth_time"),
		JKT:        it.str("jkt"),
	}
	if sess.AuthTime.IsZero() {
		sess.AuthTime = sess.CreatedAt // every session starts with a sign-in
	}
	return sess
}

// CreateSession writes a new session (never overwriting one).
func (s *Store) CreateSession(ctx context.Context, sess *auth.Session) error {
	it := map[string]types.AttributeValue{
		"session_id":   str(sess.ID),
		"user_id":      str(sess.UserID),
		"live_user":    str(sess.UserID),
		"username":     str(sess.Username),
		"client_id":    str(sess.ClientID),
		"token_hash":   bin(sess.TokenHash),
		"created_at":   millis(sess.CreatedAt),
		"rotated_at":   millis(sess.RotatedAt),
		"last_used_at": millis(sess.LastUsedAt),
		"expires_at":   seconds(sess.ExpiresAt),
	}
	if sess.Scope != "" {
		it["scope"] = str(sess.Scope)
	}
	if sess.UserAgent != "" {
		it["user_agent"] = str(sess.UserAgent)
	}
	if len(sess.AMR) > 0 {
		// A list, not a string set: the order the methods were used in is
		// kept, as amr's (RFC 8176 section 1).
		l := make([]types.AttributeValue, len(sess.AMR))
		for i, m := range sess.AMR {
			l[i] = str(m)
		}
		it["amr"] = &types.AttributeValueMemberL{Value: l}
	}
	if !sess.AuthTime.IsZero() {
		it["auth_time"] = millis(sess.AuthTime)
	}
	if sess.JKT != "" {
		it["jkt"] = str(sess.JKT)
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           &s.tables.Sessions,
		Item:                it,
		ConditionExpression: new("attribute_not_exists(session_id)"),
	})
	if err != nil {
		return fmt.Errorf("create session %s: %w", sess.ID, err)
	}
	return nil
}

// Session reads a session, strongly consistent; nil if none.
func (s *Store) Session(ctx context.Context, id string) (*auth.Session, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.tables.Sessions, Key: sessionKey(id), ConsistentRead: new(true),
	})
	if err != nil {
		return nil, fmt.Errorf("get session %s: %w", id, err)
	}
	if out.Item == nil {
		return nil, nil
	}
	return sessionFromItem(out.Item), nil
}

// SessionStanding reads the session's user and its sid and sub revocation
// entries, and the global one, in one BatchGetItem across the two tables.
func (s *Store) SessionStanding(ctx context.Context, sess *auth.Session) (auth.Standing, error) {
	// Only what refresh needs of the user: never the password hash (the
	// refresh role's IAM policy allows no other attribute).
	user := keys(usernameKey(sess.Username))
	user.ProjectionExpression = new("#u, user_id, disabled, scopes")
	user.ExpressionAttributeNames = map[string]string{"#u": "username"}
	got, err := s.batchGet(ctx, map[string]types.KeysAndAttributes{
		s.tables.Users: user,
		s.tables.Revocations: keys(
			revocationKey(auth.RevokeSession, sess.ID),
			revocationKey(auth.RevokeUser, sess.UserID),
			globalKey(),
		),
	})
	if err != nil {
		return auth.Standing{}, fmt.Errorf("session standing %s: %w", sess.ID, err)
	}
	var st auth.Standing
	if items := got[s.tables.Users]; len(items) == 1 {
		st.User = userFromItem(items[0])
	}
	for _, it := range got[s.tables.Revocations] {
		if r, ok := revocationFromItem(it); ok {
			st.Revocations = append(st.Revocations, r)
		}
	}
	return st, nil
}

// RotateSession swaps the current refresh token hash for the next one in a
// single conditional UpdateItem: only a request that still presents the
// current token of a live session succeeds, so of concurrent refreshes with
// one token exactly one wins. The presented hash becomes prev_hash and its
// prefix joins retired.
func (s *Store) RotateSession(ctx context.Context, r auth.Rotation) (*auth.Session, error) {
	// live_user again: a session started before the session list had none,
	// and joins the index at its next refresh.
	set := "SET token_hash = :next, prev_hash = :presented, rotated_at = :at, last_used_at = :at, live_user = user_id"
	values := map[string]types.AttributeValue{
		":next":      bin(r.Next),
		":presented": bin(r.Presented),
		":at":        millis(r.At),
		":retired":   &types.AttributeValueMemberBS{Value: [][]byte{r.Presented[:auth.RetiredPrefixLen]}},
	}
	names := map[string]string{}
	if r.Scope != "" {
		set += ", #scope = :scope"
		values[":scope"] = str(r.Scope)
		names["#scope"] = "scope"
	} else {
		set += " REMOVE #scope"
		names["#scope"] = "scope"
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           &s.tables.Sessions,
		Key:                                 sessionKey(r.SessionID),
		UpdateExpression:                    new(set + " ADD retired :retired"),
		ConditionExpression:                 new("token_hash = :presented AND attribute_not_exists(revoked_at)"),
		ExpressionAttributeValues:           values,
		ExpressionAttributeNames:            names,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if ccf, ok := isConditionFailed(err); ok {
		var current *auth.Session
		if ccf.Item != nil {
			current = sessionFromItem(ccf.Item)
		}
		return current, fmt.Errorf("rotate session %s: %w", r.SessionID, auth.ErrRotationConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("rotate session %s: %w", r.SessionID, err)
	}
	return nil, nil
}

// EndSession marks a session revoked and takes it out of the device
// list's index (REMOVE live_user). Ending a missing or ended session is a
// no-op (the condition fails and that is fine).
func (s *Store) EndSession(ctx context.Context, id, reason string, at time.Time) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &s.tables.Sessions,
		Key:                 sessionKey(id),
		UpdateExpression:    new("SET revoked_at = :at, revoke_reason = :reason REMOVE live_user"),
		ConditionExpression: new("attribute_exists(session_id) AND attribute_not_exists(revoked_at)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at": millis(at), ":reason": str(reason),
		},
	})
	if _, ok := isConditionFailed(err); ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("end session %s: %w", id, err)
	}
	return nil
}

// UserSessions reads a user's sessions from the live-by-user index, newest
// first, in one Query: those not marked ended and not past their absolute
// end (a filter: DynamoDB deletes expired items lazily). One page is up to
// 1 MB, some thousands of sessions with this projection; past it the
// answer says Truncated. Then the revocation entries that could end them,
// the user's, the global one and each session's, in BatchGetItem calls of
// up to 100 keys (one for up to 98 sessions).
func (s *Store) UserSessions(ctx context.Context, userID string, now time.Time) (auth.UserSessions, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:              &s.tables.Sessions,
		IndexName:              new(UserSessionsIndex),
		KeyConditionExpression: new("live_user = :u"),
		FilterExpression:       new("attribute_not_exists(revoked_at) AND expires_at > :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":u": str(userID), ":now": seconds(now),
		},
		ScanIndexForward: new(false),
	})
	if err != nil {
		return auth.UserSessions{}, fmt.Errorf("query sessions of %s: %w", userID, err)
	}
	found := auth.UserSessions{Truncated: len(out.LastEvaluatedKey) > 0}
	wanted := []map[string]types.AttributeValue{revocationKey(auth.RevokeUser, userID), globalKey()}
	for _, it := range out.Items {
		sess := sessionFromItem(it)
		found.Sessions = append(found.Sessions, *sess)
		wanted = append(wanted, revocationKey(auth.RevokeSession, sess.ID))
	}
	for len(wanted) > 0 {
		n := min(len(wanted), 100) // BatchGetItem's limit
		got, err := s.batchGet(ctx, map[string]types.KeysAndAttributes{s.tables.Revocations: keys(wanted[:n]...)})
		if err != nil {
			return auth.UserSessions{}, fmt.Errorf("revocations of %s's sessions: %w", userID, err)
		}
		for _, items := range got {
			for _, it := range items {
				if r, ok := revocationFromItem(it); ok {
					found.Revocations = append(found.Revocations, r)
				}
			}
		}
		wanted = wanted[n:]
	}
	return found, nil
}
