package app_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/app"
	"github.com/authkit/lambda-auth/shared/replica"
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

// TestRevokedTokenDenied: a revoked access token is denied at once in
// strict mode, and within the revocation sync interval in replica mode
// (not later), whichever way it was revoked: logout-all, the console
// revoke of its jti, a refresh token reused.
func TestRevokedTokenDenied(t *testing.T) {
	env := testenv.New(t)
	env.Set("REVOCATION_SYNC", "1s")
	env.CreateUser(t, "rita", "the right password")
	// The replica reads the feed at its own interval here.
	s := newServiceWith(t, env, map[string][]app.Option{"AuthorizerFunction": {
		app.WithReplicaOptions(func(o *replica.Options) { o.SyncEveryLookup = false })}})
	replicaMode := env.Getenv("REVOCATION_MODE") == "replica"

	revocations := map[string]func(tok tokens, authCtx map[string]any){
		"logout-all": func(tok tokens, authCtx map[string]any) {
			call(t, s.logoutAll, protected(t, "logout-all", authCtx))
		},
		"console revoke of its jti": func(tok tokens, authCtx map[string]any) {
			if _, err := s.revoke(context.Background(), []byte(`{"jti":"`+authCtx["jti"].(string)+`"}`)); err != nil {
				t.Fatal(err)
			}
		},
		"reuse of its session's refresh token": func(tok tokens, authCtx map[string]any) {
			s.refreshWith(t, tok.Refresh)
			s.clock.Advance(10 * time.Second) // past the grace window
			if r := s.refreshWith(t, tok.Refresh); r.StatusCode != 401 {
				t.Fatalf("reuse: %d", r.StatusCode)
			}
		},
	}
	for name, revoke := range revocations {
		t.Run(name, func(t *testing.T) {
			s.clock.Advance(2 * time.Second)
			tok := s.doLogin(t, "rita", "the right password")
			ok, authCtx := s.authorize(t, tok.Access)
			if !ok {
				t.Fatal("a fresh token is denied")
			}
			revoke(tok, authCtx)
			denied := func() bool { ok, _ := s.authorize(t, tok.Access); return !ok }
			if !replicaMode {
				if !denied() {
					t.Fatal("strict mode: a revoked token allowed on the next request")
				}
				return
			}
			// Replica mode: the view may lag by at most the sync interval.
			s.clock.Advance(1001 * time.Millisecond)
			if !denied() {
				t.Fatal("replica mode: a revoked token still allowed once the sync interval passed")
			}
		})
	}
}
