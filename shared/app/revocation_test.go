package app_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/scripts/testenv"
)

// TestHandEntryCannotSwallowARevocation: the reported case. An operator
// typed a short user entry by hand (no revoked_at, expiring in 25 s); an
// attacker logs in with a leaked password; the user's password is replaced
// and every session revoked (the revoke function, as create-user -replace
// invokes it). Once the hand entry has expired, the attacker's session must
// still be dead, refresh and access token alike; a login after the
// revocation lives.
func TestHandEntryCannotSwallowARevocation(t *testing.T) {
	env := testenv.New(t)
	u := env.CreateUser(t, "paula", "the leaked password")
	s := newService(t, env)
	if _, err := env.DB.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &env.Tables.Revocations,
		Item: map[string]types.AttributeValue{
			"pk":         &types.AttributeValueMemberS{Value: "sub#" + u.ID},
			"expires_at": &types.AttributeValueMemberN{Value: strconv.FormatInt(s.clock.Now().Add(25*time.Second).Unix(), 10)},
		}}); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(time.Second)
	attacker := s.doLogin(t, "paula", "the leaked password")
	s.clock.Advance(time.Second)
	if _, err := s.revoke(context.Background(), []byte(`{"user_id":"`+u.ID+`","reason":"password replaced"}`)); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	s.clock.Advance(time.Second)
	owner := s.doLogin(t, "paula", "the leaked password") // (the new password, in real life)

	s.clock.Advance(27 * time.Second) // the hand entry has expired
	if resp := s.refreshWith(t, attacker.Refresh); resp.StatusCode != 401 {
		t.Fatalf("attacker's refresh after the hand entry expired: %d %s, want 401", resp.StatusCode, resp.Body)
	}
	if ok, _ := s.authorize(t, attacker.Access); ok {
		t.Fatal("attacker's access token allowed after the hand entry expired")
	}
	if ok, _ := s.authorize(t, owner.Access); !ok {
		t.Fatal("a session started after the revocation is denied")
	}
}
