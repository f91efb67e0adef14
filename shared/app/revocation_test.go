package app_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
)

// TestHandEntryCannotSwallowARevocation: the reported case. An attacker
// logged in with a leaked password; an operator typed a short user entry
// by hand (no revoked_at, expiring in 25 s); the user's password is then
// replaced and every session revoked (the revoke function, as create-user
// -replace invokes it). Once the hand entry has expired, the attacker's
// session must still be dead, refresh and access token alike; a login
// after it lives.
func TestHandEntryCannotSwallowARevocation(t *testing.T) {
	env := testenv.New(t)
	u := env.CreateUser(t, "paula", "the leaked password")
	s := newService(t, env)
	attacker := s.doLogin(t, "paula", "the leaked password")
	s.clock.Advance(time.Second)
	if _, err := env.DB.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &env.Tables.Revocations,
		Item: map[string]types.AttributeValue{
			"pk":         &types.AttributeValueMemberS{Value: "sub#" + u.ID},
			"expires_at": &types.AttributeValueMemberN{Value: strconv.FormatInt(s.clock.Now().Add(25*time.Second).Unix(), 10)},
		}}); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(time.Second)
	if _, err := s.revoke(context.Background(), []byte(`{"user_id":"`+u.ID+`","reason":"password replaced"}`)); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	s.clock.Advance(27 * time.Second)                     // the hand entry has expired
	owner := s.doLogin(t, "paula", "the leaked password") // (the new password, in real life)
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
// revoke of its jti, the global cutoff, a refresh token reused.
func TestRevokedTokenDenied(t *testing.T) {
	env := testenv.New(t)
	env.Set("REVOCATION_SYNC", "1s")
	env.CreateUser(t, "rita", "the right password")
	// The replica reads the feed at its own interval here.
	s := newServiceByInterval(t, env, nil)
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
		"console revoke-all (the global cutoff)": func(tok tokens, authCtx map[string]any) {
			if _, err := s.revoke(context.Background(), fixture(t, "revoke-all")); err != nil {
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

// TestRepeatedLogoutsWriteNothing: a session ends once; logging out with
// its token again, or replaying its rotated-out token, writes nothing more
// (anyone holding an old refresh token could otherwise grow the
// revocation feed every authorizer reads; found by review).
func TestRepeatedLogoutsWriteNothing(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "ivan", "a long enough password")
	s := newService(t, env)
	tok := s.doLogin(t, "ivan", "a long enough password")
	s.readTokens(t, s.refreshWith(t, tok.Refresh))
	s.clock.Advance(10 * time.Second)
	for range 20 {
		s.clock.Advance(3 * time.Millisecond)
		if r := s.logoutWith(t, tok.Refresh); r.StatusCode != 204 {
			t.Fatalf("logout: %d", r.StatusCode)
		}
		s.clock.Advance(3 * time.Millisecond)
		if r := s.refreshWith(t, tok.Refresh); r.StatusCode != 401 {
			t.Fatalf("replay: %d", r.StatusCode)
		}
	}
	out, err := env.DB.Scan(context.Background(), &dynamodb.ScanInput{TableName: &env.Tables.RevocationFeed})
	if err != nil {
		t.Fatal(err)
	}
	// One feed item, written to two buckets: one sort key.
	keys := map[string]bool{}
	for _, it := range out.Items {
		keys[it["sk"].(*types.AttributeValueMemberS).Value] = true
	}
	if len(keys) != 1 || len(out.Items) != 2 {
		t.Fatalf("%d feed items (%d sort keys) for one session ended once (20 logouts and 20 replays of its token), want one item in two buckets", len(out.Items), len(keys))
	}
}

// TestHalfDoneRevocation: the table is the revocation and the feed
// follows it. A logout, or a reuse detected on a thief's replay, whose
// entry cannot be written changed nothing anywhere: 503, and the retry
// does it. One whose entry landed but whose feed item could not be
// written is done: the answer is success (a retry would find the entry
// and write nothing), refresh refuses the session at once, and the
// replicas deny its access tokens as soon as the stream function has put
// the entry into the feed (here: its handler given the entry's record).
func TestHalfDoneRevocation(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "hugo", "a long enough password")
	db := testenv.NewFaultProxy(t, os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", db.URL)
	s := newService(t, env)
	ctx := context.Background()
	for _, how := range []string{"logout", "reuse detected on the thief's replay"} {
		for _, failing := range []string{env.Tables.Revocations, env.Tables.RevocationFeed} {
			t.Run(how+", "+failing, func(t *testing.T) {
				s.clock.Advance(time.Second)
				tok := s.doLogin(t, "hugo", "a long enough password")
				current := tok.Refresh
				do := func() apigw.Response {
					req := httpEvent(t, "logout", "REPLACE_WITH_REFRESH_TOKEN", tok.Refresh)
					req.Headers["origin"] = "https://app.test.example"
					return callBefore(t, s.logout, req)
				}
				if how != "logout" {
					current = s.readTokens(t, s.refreshWith(t, tok.Refresh)).Refresh
					s.clock.Advance(10 * time.Second) // past the grace window
					do = func() apigw.Response { return callBefore(t, s.refresh, s.refreshRequest(t, tok.Refresh)) }
				}
				db.Set(testenv.Fault{Mode: testenv.Error, Op: "PutItem", Table: failing})
				r := do()
				db.Reset()
				if failing == env.Tables.Revocations {
					want503(t, how+" with the entry's write failing", r)
					if r := do(); r.StatusCode/100 == 5 {
						t.Fatalf("the retry: %d %s", r.StatusCode, r.Body)
					}
				} else {
					if r.StatusCode/100 == 5 {
						t.Fatalf("%s with the feed's write failing after the entry landed: %d %s, want done", how, r.StatusCode, r.Body)
					}
					if !strings.Contains(s.logs.String(), "revocation stored, feed write failed") {
						t.Error("the failed feed write was not logged")
					}
					out, err := env.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &env.Tables.Revocations,
						Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "sid#" + tok.Refresh[:32]}}, ConsistentRead: new(true)})
					if err != nil || out.Item == nil {
						t.Fatalf("the entry: %v", err)
					}
					resp, err := s.revocationFeed(ctx, events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{streamRecord("INSERT", "1", out.Item)}})
					if err != nil || len(resp.BatchItemFailures) != 0 {
						t.Fatalf("revocation-feed: %+v %v", resp, err)
					}
				}
				if r := s.refreshWith(t, current); r.StatusCode != 401 {
					t.Fatalf("refresh after the revocation: %d", r.StatusCode)
				}
				if ok, _ := s.authorize(t, tok.Access); ok {
					t.Fatal("the access token allowed after the revocation completed")
				}
			})
		}
	}
}

// TestBannedUserGetsNoSession: a user entry that covers sessions starting
// now (typed by hand without cutoff: "every session until it expires",
// then merged by the revoke function, as README says to do in replica
// mode) stops login itself, as for a disabled user: no token is ever
// minted for a session a revocation covers, so authorizer containers
// started long after the entry (whose replica loads only the last token
// lifetime of the feed) have nothing to miss. Found by review.
func TestBannedUserGetsNoSession(t *testing.T) {
	env := testenv.New(t)
	u := env.CreateUser(t, "mallory", "a long enough password")
	s := newService(t, env)
	ctx := context.Background()
	if _, err := env.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &env.Tables.Revocations, Item: map[string]types.AttributeValue{
		"pk":         &types.AttributeValueMemberS{Value: "sub#" + u.ID},
		"expires_at": &types.AttributeValueMemberN{Value: strconv.FormatInt(s.clock.Now().Add(30*24*time.Hour).Unix(), 10)},
		"reason":     &types.AttributeValueMemberS{Value: "banned"},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.revoke(ctx, []byte(`{"user_id":"`+u.ID+`","reason":"banned"}`)); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(16 * time.Minute) // past any replica's window
	resp := call(t, s.login, loginEvent(t, "mallory", "a long enough password"))
	if resp.StatusCode != 401 || errorCode(t, resp) != "invalid_credentials" {
		t.Fatalf("login of a banned user: %d %s, want 401 invalid_credentials", resp.StatusCode, resp.Body)
	}
	// A user revoked with a cutoff in the past logs in again.
	env.CreateUser(t, "nina", "a long enough password")
	n := s.doLogin(t, "nina", "a long enough password")
	_, authCtx := s.authorize(t, n.Access)
	call(t, s.logoutAll, protected(t, "logout-all", authCtx))
	// In the same millisecond the new session would start at the cutoff
	// (ids carry milliseconds) and its tokens be denied: no session.
	if resp := call(t, s.login, loginEvent(t, "nina", "a long enough password")); resp.StatusCode != 401 {
		t.Errorf("login in the millisecond of a logout-all: %d %s, want 401 (a session its own revocation covers)", resp.StatusCode, resp.Body)
	}
	s.clock.Advance(time.Millisecond)
	again := s.doLogin(t, "nina", "a long enough password")
	if ok, _ := s.authorize(t, again.Access); !ok {
		t.Error("the access token of a login after a logout-all is denied")
	}
}
