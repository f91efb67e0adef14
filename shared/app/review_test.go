package app_test

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
	"github.com/authkit/lambda-auth/shared/kmssign"
)

// TestLoginBurstCannotOutrunLockout: parallel guesses are counted before any
// password work, so of a burst only LOGIN_MAX_FAILURES are checked; after
// the lock ends, one more is checked before the next lock.
func TestLoginBurstCannotOutrunLockout(t *testing.T) {
	env := testenv.New(t)
	env.Set("LOGIN_MAX_FAILURES", "3")
	env.Set("LOGIN_LOCKOUT_BASE", "30s")
	env.CreateUser(t, "quinn", "the right password")
	s := newService(t, env)

	burst := func(n int) (checked, throttled int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				resp := call(t, s.login, loginEvent(t, "quinn", "a wrong guess"))
				mu.Lock()
				defer mu.Unlock()
				switch resp.StatusCode {
				case 401:
					checked++
				case 429:
					throttled++
				default:
					t.Errorf("burst: %d %s", resp.StatusCode, resp.Body)
				}
			})
		}
		wg.Wait()
		return checked, throttled
	}
	if checked, throttled := burst(20); checked != 3 || throttled != 17 {
		t.Fatalf("first burst: %d guesses checked, %d throttled; want 3 and 17", checked, throttled)
	}
	if checked, _ := burst(10); checked != 0 {
		t.Fatalf("burst while locked: %d guesses checked, want 0", checked)
	}
	s.clock.Advance(16 * time.Minute) // past any lock (LOGIN_LOCKOUT_MAX)
	if checked, throttled := burst(10); checked != 1 || throttled != 9 {
		t.Fatalf("burst after the lock: %d checked, %d throttled; want 1 and 9", checked, throttled)
	}
	// Long after the last attempt the record is ignored (TTL) and the user
	// logs in again.
	s.clock.Advance(2 * time.Hour)
	s.doLogin(t, "quinn", "the right password")
}

// failOnce makes the next call of one store method fail, as a throttled or
// unreachable DynamoDB would.
type failOnce struct {
	*dynamo.Store
	mu       sync.Mutex
	failPut  bool
	failEnd  bool
	failures int
}

func (f *failOnce) PutRevocation(ctx context.Context, r auth.Revocation) error {
	f.mu.Lock()
	fail := f.failPut
	f.failPut = false
	f.mu.Unlock()
	if fail {
		f.failures++
		return context.DeadlineExceeded
	}
	return f.Store.PutRevocation(ctx, r)
}

func (f *failOnce) EndSession(ctx context.Context, id, reason string, at time.Time) error {
	f.mu.Lock()
	fail := f.failEnd
	f.failEnd = false
	f.mu.Unlock()
	if fail {
		f.failures++
		return context.DeadlineExceeded
	}
	return f.Store.EndSession(ctx, id, reason, at)
}

// TestEndingASessionCompletesOnRetry: whichever of the two writes that end a
// session fails, the caller gets 503 and a retry finishes the job: the
// session's access tokens end up revoked.
func TestEndingASessionCompletesOnRetry(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "rita", "a long enough password")
	s := newService(t, env)
	ctx := context.Background()

	for _, fail := range []string{"revocation entry", "session mark"} {
		t.Run(fail, func(t *testing.T) {
			tok := s.doLogin(t, "rita", "a long enough password")
			f := &failOnce{Store: env.Store, failPut: fail == "revocation entry", failEnd: fail == "session mark"}
			svc := auth.New(auth.Deps{Sessions: f, Revocations: f}, auth.Options{Now: s.clock.Now})
			if err := svc.Logout(ctx, tok.Refresh); err == nil || f.failures != 1 {
				t.Fatalf("first logout: %v (failures injected: %d)", err, f.failures)
			}
			if err := svc.Logout(ctx, tok.Refresh); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if ok, _ := s.authorize(t, tok.Access); ok {
				t.Error("access token allowed after a retried logout")
			}
			if resp := s.refreshWith(t, tok.Refresh); resp.StatusCode != 401 {
				t.Errorf("refresh after a retried logout: %d", resp.StatusCode)
			}
		})
	}
}

// TestDisabledFlagFailsClosed: a disabled flag typed by hand in the console
// in any form but an explicit false disables the user.
func TestDisabledFlagFailsClosed(t *testing.T) {
	env := testenv.New(t)
	s := newService(t, env)
	for i, v := range []types.AttributeValue{
		&types.AttributeValueMemberS{Value: "True"}, &types.AttributeValueMemberS{Value: "yes"},
		&types.AttributeValueMemberN{Value: "1"}, &types.AttributeValueMemberBOOL{Value: true},
	} {
		name := "user" + strconv.Itoa(i)
		env.CreateUser(t, name, "a long enough password")
		_, err := env.DB.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
			TableName: &env.Tables.Users, Key: map[string]types.AttributeValue{"username": &types.AttributeValueMemberS{Value: name}},
			UpdateExpression: aws.String("SET disabled = :d"), ExpressionAttributeValues: map[string]types.AttributeValue{":d": v},
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp := call(t, s.login, loginEvent(t, name, "a long enough password")); resp.StatusCode != 401 {
			t.Errorf("disabled=%#v: login %d, want 401", v, resp.StatusCode)
		}
	}
	env.CreateUser(t, "enabled", "a long enough password") // BOOL false
	s.doLogin(t, "enabled", "a long enough password")
}

// TestUserRevocationNeverGoesBack: a newer user entry typed by hand in
// seconds is not replaced by an older instant in milliseconds.
func TestUserRevocationNeverGoesBack(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	future := time.Now().Add(time.Hour)
	_, err := env.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &env.Tables.Revocations, Item: map[string]types.AttributeValue{
		"pk":         &types.AttributeValueMemberS{Value: "sub#u1"},
		"revoked_at": &types.AttributeValueMemberN{Value: strconv.FormatInt(future.Unix(), 10)},
		"expires_at": &types.AttributeValueMemberN{Value: strconv.FormatInt(future.Add(24*time.Hour).Unix(), 10)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	svc := auth.New(auth.Deps{Revocations: env.Store}, auth.Options{})
	if _, err := svc.Revoke(ctx, auth.RevokeRequest{UserID: "u1"}); err != nil {
		t.Fatal(err)
	}
	revs, err := env.Store.Revocations(ctx, "x", "x", "u1")
	if err != nil || len(revs) != 1 || revs[0].RevokedAt.Unix() != future.Unix() {
		t.Fatalf("entry after an older revoke: %+v %v", revs, err)
	}
	// An older entry is replaced.
	if _, err := env.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &env.Tables.Revocations, Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "sub#u2"}, "revoked_at": &types.AttributeValueMemberN{Value: "1700000000"},
	}}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if _, err := svc.Revoke(ctx, auth.RevokeRequest{UserID: "u2"}); err != nil {
		t.Fatal(err)
	}
	revs, _ = env.Store.Revocations(ctx, "x", "x", "u2")
	if len(revs) != 1 || revs[0].RevokedAt.Before(before.Add(-time.Second)) {
		t.Fatalf("older entry not replaced: %+v", revs)
	}
}

// TestKeyRotation: tokens signed by the previous key stay valid while it is
// listed in VERIFY_KEY_IDS, the JWKS publishes both keys, and a previous key
// that no longer exists does not stop the authorizer from starting.
func TestKeyRotation(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "sam", "a long enough password")
	old := newService(t, env)
	oldTok := old.doLogin(t, "sam", "a long enough password")

	oldKey := env.Getenv("SIGNING_KEY_ID")
	env.Set("SIGNING_KEY_ID", testenv.CreateKey(t, env.KMS, kmstypes.KeySpecEccNistP256))
	// The old key, a key that no longer exists, and the current key again.
	env.Set("VERIFY_KEY_IDS", oldKey+",alias/deleted-long-ago,"+env.Getenv("SIGNING_KEY_ID"))
	s := newService(t, env)
	newTok := s.doLogin(t, "sam", "a long enough password")
	for name, tok := range map[string]string{"old key": oldTok.Access, "new key": newTok.Access} {
		if ok, _ := s.authorize(t, tok); !ok {
			t.Errorf("token signed by the %s denied during the rotation", name)
		}
	}
	var doc kmssign.JWKS
	json.Unmarshal([]byte(call(t, s.jwks, httpEvent(t, "jwks")).Body), &doc)
	if len(doc.Keys) != 2 {
		t.Errorf("JWKS has %d keys during the rotation, want 2", len(doc.Keys))
	}

	env.Set("VERIFY_KEY_IDS", "")
	done := newService(t, env)
	if ok, _ := done.authorize(t, oldTok.Access); ok {
		t.Error("token of a retired key allowed")
	}
	if ok, _ := done.authorize(t, newTok.Access); !ok {
		t.Error("token of the current key denied")
	}
}

// TestEndSessionRevocationFirst: ending a session writes the revocation
// entry before marking the session, so a failure in between never leaves a
// session marked ended while its access tokens still pass.
func TestEndSessionRevocationFirst(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "tess", "a long enough password")
	s := newService(t, env)
	ctx := context.Background()
	tok := s.doLogin(t, "tess", "a long enough password")

	f := &failOnce{Store: env.Store, failPut: true}
	svc := auth.New(auth.Deps{Sessions: f, Revocations: f}, auth.Options{Now: s.clock.Now})
	if err := svc.Logout(ctx, tok.Refresh); err == nil {
		t.Fatal("logout with a failing revocation write succeeded")
	}
	sess, err := env.Store.Session(ctx, tok.Refresh[:32])
	if err != nil {
		t.Fatal(err)
	}
	// The failed write came first, so nothing else happened: the session is
	// not marked ended while its access token would still pass.
	if !sess.RevokedAt.IsZero() {
		t.Fatal("session marked ended although its revocation entry was not written")
	}
	if ok, _ := s.authorize(t, tok.Access); !ok {
		t.Fatal("access token denied although nothing was revoked")
	}
}

// TestLockNeverOutlivesItsCount: a lock computed from a count that a
// successful login has since cleared does not land on a fresh record (it
// would raise the allowance of the next count), and a clear keeps attempts
// that arrived after the successful one.
func TestLockNeverOutlivesItsCount(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	now := time.Now()
	exp := now.Add(24 * time.Hour)
	for range 7 {
		if _, err := env.Store.ReserveLoginAttempt(ctx, "vic", now, exp); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.Store.ClearLoginFailures(ctx, "vic", 7); err != nil { // the victim's success
		t.Fatal(err)
	}
	if err := env.Store.LockLogin(ctx, "vic", 6, now.Add(time.Minute), exp); err != nil { // an attacker's late lock
		t.Fatal(err)
	}
	att, err := env.Store.ReserveLoginAttempt(ctx, "vic", now, exp)
	if err != nil {
		t.Fatal(err)
	}
	if att.Count != 1 || att.Allow != 0 || !att.LockedUntil.IsZero() {
		t.Fatalf("after a clear and a stale lock: %+v, want a fresh count of 1 with the default allowance", att)
	}

	// Attempts after the successful one are not forgotten by its clear.
	env.Store.ReserveLoginAttempt(ctx, "vic", now, exp) // 2: an attacker's, after the victim's 1
	if err := env.Store.ClearLoginFailures(ctx, "vic", 1); err != nil {
		t.Fatal(err)
	}
	if att, _ := env.Store.ReserveLoginAttempt(ctx, "vic", now, exp); att.Count != 3 {
		t.Fatalf("count after a stale clear: %d, want 3", att.Count)
	}
}

// TestUserRevocationSameSecond: a logout-all within the same second as a
// hand-typed entry in seconds replaces it, so a session started between
// the two is not left alive.
func TestUserRevocationSameSecond(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	sec := time.Now().Unix()
	if _, err := env.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &env.Tables.Revocations, Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "sub#u3"}, "revoked_at": &types.AttributeValueMemberN{Value: strconv.FormatInt(sec, 10)},
	}}); err != nil {
		t.Fatal(err)
	}
	later := time.UnixMilli(sec*1000 + 600)
	svc := auth.New(auth.Deps{Revocations: env.Store}, auth.Options{Now: func() time.Time { return later }})
	if _, err := svc.Revoke(ctx, auth.RevokeRequest{UserID: "u3"}); err != nil {
		t.Fatal(err)
	}
	revs, _ := env.Store.Revocations(ctx, "x", "x", "u3")
	if len(revs) != 1 || !revs[0].RevokedAt.Equal(later) {
		t.Fatalf("entry %+v, want revoked_at %v", revs, later)
	}
}
