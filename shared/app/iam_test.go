package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"gopkg.in/yaml.v3"

	"github.com/authkit/lambda-auth/scripts/dpopclient"
	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
	"github.com/authkit/lambda-auth/shared/app"
	"github.com/authkit/lambda-auth/shared/app/passkeyapp"
	"github.com/authkit/lambda-auth/shared/dynamo"
)

// grant is one (action, resource) an IAM statement allows, with the
// dynamodb:LeadingKeys patterns it is limited to (none: any key).
type grant struct {
	Sid         string
	Action      string
	Resource    string // logical id: UsersTable, SigningKey, PreviousSigningKeyIds...
	LeadingKeys []string
}

// unusedGrants are grants no test flow exercises, each with its reason.
// Anything else allowed and never called is a finding. The authorizer may
// read both the table and the feed, so that switching RevocationMode needs
// no policy change: each run (scripts/test runs both modes) uses one.
func unusedGrants(mode string) map[string]string {
	// The revocation-feed function's event source mapping reads the stream
	// and sends failed batches with the function's role: Lambda's calls,
	// not the code's.
	m := map[string]string{
		"RevocationFeedFunction dynamodb:DescribeStream RevocationsTable.StreamArn":   "the event source mapping's (Lambda polls the stream)",
		"RevocationFeedFunction dynamodb:GetRecords RevocationsTable.StreamArn":       "the event source mapping's (Lambda polls the stream)",
		"RevocationFeedFunction dynamodb:GetShardIterator RevocationsTable.StreamArn": "the event source mapping's (Lambda polls the stream)",
		"RevocationFeedFunction dynamodb:ListStreams *":                               "the event source mapping's (Lambda polls the stream)",
		"RevocationFeedFunction sqs:SendMessage RevocationFeedFailureQueue":           "the event source mapping's on-failure destination",
	}
	if mode == "strict" {
		m["AuthorizerFunction dynamodb:Query RevocationFeedTable"] = "replica mode only; this run is strict"
		m["AuthorizerFunction dynamodb:GetItem RevocationSnapshotTable"] = "replica mode only (the snapshot's pointer); this run is strict"
		m["AuthorizerFunction dynamodb:BatchGetItem RevocationSnapshotTable"] = "replica mode only (the snapshot's parts); this run is strict"
	} else {
		m["AuthorizerFunction dynamodb:BatchGetItem RevocationsTable"] = "strict mode only; this run is replica"
	}
	return m
}

// TestIAMPoliciesMatchCalls: every function's IAM statements in
// template.yaml against the AWS calls its code makes, recorded by SDK
// middleware while every flow of that function runs (slow paths
// included): each call is allowed by a statement (action, resource,
// LeadingKeys condition), and each allowed action is called somewhere or
// listed in unusedGrants with its reason, and each key prefix a statement
// allows is used by a call of each of its actions or listed in
// unusedKeyPrefixes with its reason. logs:* statements are the runtime's,
// not the code's.
func TestIAMPoliciesMatchCalls(t *testing.T) {
	policies := functionPolicies(t)
	env := testenv.New(t)
	prev := testenv.CreateKey(t, env.KMS, "ECC_NIST_P256")
	env.Set("VERIFY_KEY_IDS", prev)
	user := env.CreateUser(t, "iris", "the right password")
	env.Set("LOGIN_MAX_FAILURES", "1")
	env.Set("LOGIN_LOCKOUT_BASE", "1s")
	env.Set("LOGIN_LOCKOUT_MAX", "1s")
	env.Set("REFRESH_REUSE_GRACE", "1s")

	recorders := map[string]*testenv.Recorder{}
	extra := map[string][]app.Option{}
	for id := range policies {
		recorders[id] = env.NewRecorder(t)
		extra[id] = []app.Option{app.WithAWSOptions(recorders[id].Option())}
	}
	s := newServiceWith(t, env, extra)
	ctx := context.Background()
	handEntry := func(pk string) { // an entry typed by hand: merges take the slow path
		if _, err := env.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &env.Tables.Revocations, Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: pk}, "expires_at": &types.AttributeValueMemberN{Value: strconv.FormatInt(s.clock.Now().Add(time.Second).Unix(), 10)},
		}}); err != nil {
			t.Fatal(err)
		}
	}

	// Login: failures, a lock, its end, a success clearing the count, a
	// login replacing an earlier session (whose entry was typed by hand).
	call(t, s.login, loginEvent(t, "iris", "wrong"))
	call(t, s.login, loginEvent(t, "iris", "the right password")) // locked
	s.clock.Advance(2 * 24 * time.Hour)                           // the count expires: started over
	call(t, s.login, loginEvent(t, "iris", "wrong"))
	s.clock.Advance(2 * time.Second)
	first := s.doLogin(t, "iris", "the right password")
	handEntry("sid#" + first.Refresh[:32])
	req := loginEvent(t, "iris", "the right password")
	req.Cookies = []string{"__Secure-refresh_token=" + first.Refresh}
	second := s.readTokens(t, call(t, s.login, req))
	s.clock.Advance(2 * time.Second)

	// The second factor (another user): enrolment with a wrong code first
	// (a lock; two days later the count starts over), confirmation, a
	// login finished by a code and one by a recovery code, a password
	// change, the status and the removal.
	env.CreateUser(t, "ivy", "ivy's password")
	_, ivyCtx := s.signedIn(t, "ivy", "ivy's password")
	enrol := s.enrolStart(t, ivyCtx)
	call(t, s.totp, totpRequest(t, "POST /auth/mfa/totp/confirm", ivyCtx, map[string]string{"code": wrongCode(s.code(t, enrol))}))
	s.clock.Advance(2 * 24 * time.Hour)
	_, ivyCtx = s.signedIn(t, "ivy", "ivy's password")
	confirmed := call(t, s.totp, totpRequest(t, "POST /auth/mfa/totp/confirm", ivyCtx, map[string]string{"code": s.code(t, enrol)}))
	var codes apigw.RecoveryCodes
	if json.Unmarshal([]byte(confirmed.Body), &codes); confirmed.StatusCode != 200 || len(codes.RecoveryCodes) == 0 {
		t.Fatalf("confirm: %d %s", confirmed.StatusCode, confirmed.Body)
	}
	s.clock.Advance(30 * time.Second)
	ivy := s.readTokens(t, s.finishMFA(t, s.mfaChallenge(t, "ivy", "ivy's password"), s.code(t, enrol), ""))
	_, ivyCtx = s.authorize(t, ivy.Access)
	call(t, s.totp, totpRequest(t, "GET /auth/mfa/totp", ivyCtx, nil))
	if resp := call(t, s.login, totpRequest(t, "POST /auth/password", ivyCtx, map[string]string{"current_password": "ivy's password", "new_password": "ivy's new password", "recovery_code": codes.RecoveryCodes[1]})); resp.StatusCode != 200 {
		t.Fatalf("change password: %d %s", resp.StatusCode, resp.Body)
	}
	s.clock.Advance(time.Second)
	if resp := s.finishMFA(t, s.mfaChallenge(t, "ivy", "ivy's new password"), "", codes.RecoveryCodes[0]); resp.StatusCode != 200 {
		t.Fatalf("a recovery code: %d %s", resp.StatusCode, resp.Body)
	}
	s.clock.Advance(30 * time.Second)
	if resp := call(t, s.totp, totpRequest(t, "DELETE /auth/mfa/totp", ivyCtx, map[string]string{"code": s.code(t, enrol)})); resp.StatusCode != 204 {
		t.Fatalf("remove: %d %s", resp.StatusCode, resp.Body)
	}

	// Refresh: a rotation, a retry within grace, reuse (merging with a hand entry).
	third := s.readTokens(t, s.refreshWith(t, second.Refresh))
	s.refreshWith(t, second.Refresh)
	s.authorize(t, third.Access)
	// A DPoP-bound token with its proof: the proof recorded once
	// (ProofReplayTable, DPOP_REPLAY shared).
	dpopKey, err := dpopclient.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	bound := mintToken(t, env, dpopKey.JKT(), s.clock.Now())
	if out, err := s.authorizer(ctx, dpopEvent(t, bound, dpopKey.Proof("GET", dpopURL, bound, s.clock.Now()))); err != nil || !out.(events.APIGatewayV2CustomAuthorizerSimpleResponse).IsAuthorized {
		t.Fatalf("a DPoP request denied: %v %v\n%s", out, err, s.logs)
	}
	handEntry("sid#" + second.Refresh[:32])
	s.clock.Advance(3 * time.Second)
	s.refreshWith(t, second.Refresh)

	// Logout, logout-all, revoke: each merging with a hand entry.
	fourth := s.doLogin(t, "iris", "the right password")
	handEntry("sid#" + fourth.Refresh[:32])
	s.logoutWith(t, fourth.Refresh)
	fifth := s.doLogin(t, "iris", "the right password")
	_, authCtx := s.authorize(t, fifth.Access)
	// The session list, and ending another device (its entry typed by hand).
	call(t, s.sessionList, protected(t, "sessions", authCtx))
	device := s.doLogin(t, "iris", "the right password")
	handEntry("sid#" + device.Refresh[:32])
	end := protected(t, "end-session", authCtx)
	end.PathParameters = map[string]string{"id": device.Refresh[:32]}
	if resp := call(t, s.endSession, end); resp.StatusCode != 204 {
		t.Fatalf("end a device: %d %s", resp.StatusCode, resp.Body)
	}
	handEntry("sub#" + user.ID)
	call(t, s.logoutAll, protected(t, "logout-all", authCtx))
	s.clock.Advance(2 * time.Second) // the hand entry (every session, for a second) has passed
	sixth := s.doLogin(t, "iris", "the right password")
	handEntry("jti#j-1")
	handEntry("all#*")
	for _, ev := range []string{`{"jti":"j-1"}`, `{"session_id":"` + sixth.Refresh[:32] + `"}`, `{"user_id":"` + user.ID + `"}`, `{"all":true}`} {
		if _, err := s.revoke(ctx, []byte(ev)); err != nil {
			t.Fatalf("revoke %s: %v", ev, err)
		}
	}
	// The stream function: an entry typed by hand (written to the feed)
	// and one the service wrote (its item read first, by feed_sk).
	handEntry("jti#j-by-hand")
	var feed events.DynamoDBEvent
	for i, pk := range []string{"jti#j-by-hand", "jti#j-1"} {
		out, err := env.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &env.Tables.Revocations,
			Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}, ConsistentRead: new(true)})
		if err != nil || out.Item == nil {
			t.Fatalf("read %s: %v", pk, err)
		}
		feed.Records = append(feed.Records, streamRecord("INSERT", strconv.Itoa(100+i), out.Item))
	}
	if resp, err := s.revocationFeed(ctx, feed); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("revocation-feed: %+v %v", resp, err)
	}
	call(t, s.jwks, httpEvent(t, "jwks"))
	call(t, s.me, protected(t, "me", authCtx))
	call(t, s.discovery, httpEvent(t, "discovery"))

	// RFC 7009 revocations of a refresh and an access token (each merging
	// with a hand entry), RFC 7662 introspection.
	s.clock.Advance(time.Second) // after the user revocation above
	seventh := s.doLogin(t, "iris", "the right password")
	ok, seventhCtx := s.authorize(t, seventh.Access)
	if !ok {
		t.Fatal("the seventh login's access token is denied")
	}
	handEntry("sid#" + seventh.Refresh[:32])
	handEntry("jti#" + seventhCtx["jti"].(string))
	s.introspection(t, seventh.Access)
	// An access token whose hand entry has expired (still in the table:
	// the TTL deletes late): its jti# entry is written over it, a merge.
	eighth := s.doLogin(t, "iris", "the right password")
	_, eighthCtx := s.authorize(t, eighth.Access)
	handEntry("jti#" + eighthCtx["jti"].(string))
	s.clock.Advance(2 * time.Second)
	for _, tok := range []string{seventh.Access, seventh.Refresh, eighth.Access} {
		if resp := call(t, s.revocation, formEvent(t, "token-revocation", url.Values{"token": {tok}})); resp.StatusCode != 200 {
			t.Fatalf("RFC 7009 revocation: %d %s", resp.StatusCode, resp.Body)
		}
	}

	// Passkeys: register one (the user handle stored, then read), list,
	// sign in with it (replacing a session: its entry typed by hand), a
	// sign-count regression flagging it, remove it.
	s.clock.Advance(time.Second)
	pk := &passkeyRig{s: s, authn: testenv.NewAuthenticator("app.test.example", passkeyOrigin)}
	pk.login = s.doLogin(t, "iris", "the right password")
	_, pk.authCtx = s.authorize(t, pk.login.Access)
	for range 2 {
		if resp := pk.register(t, testenv.Ceremony{}); resp.StatusCode != 201 {
			t.Fatalf("passkey registration: %d %s", resp.StatusCode, resp.Body)
		}
	}
	pk.list(t)
	handEntry("sid#" + pk.login.Refresh[:32])
	a, err := pk.authn.Get(pk.signInOptions(t), testenv.Ceremony{})
	if err != nil {
		t.Fatal(err)
	}
	pkReq := httpEvent(t, "passkey-login")
	pkReq.Body = string(a)
	pkReq.Cookies = []string{"__Secure-refresh_token=" + pk.login.Refresh}
	if resp := call(t, s.passkeyIn, pkReq); resp.StatusCode != 200 {
		t.Fatalf("passkey sign-in: %d %s", resp.StatusCode, resp.Body)
	}
	zero := uint32(0)
	pk.signIn(t, testenv.Ceremony{Count: &zero}) // flagged
	pk.login = s.doLogin(t, "iris", "the right password")
	_, pk.authCtx = s.authorize(t, pk.login.Access)
	del := protected(t, "passkeys-delete", pk.authCtx)
	for _, p := range pk.list(t) {
		if p.Refused {
			del.PathParameters = map[string]string{"id": p.ID}
		}
	}
	if resp := call(t, s.passkeys, del); resp.StatusCode != 204 {
		t.Fatalf("passkey removal: %d %s", resp.StatusCode, resp.Body)
	}

	// Key rotation, step 1: login and refresh sign with the previous key
	// (SIGN_WITH_KEY_ID), through the conditional SignWithPreviousKey.
	signWith := testenv.CreateKey(t, env.KMS, "ECC_NIST_P256")
	env.Set("SIGN_WITH_KEY_ID", signWith)
	rotLogin, err2 := app.Login(ctx, env.Getenv, app.WithAWSOptions(recorders["LoginFunction"].Option()),
		app.WithClock(s.clock.Now), app.WithMetrics(io.Discard))
	if err2 != nil {
		t.Fatal(err2)
	}
	rotRefresh, err3 := app.Refresh(ctx, env.Getenv, app.WithAWSOptions(recorders["RefreshFunction"].Option()),
		app.WithClock(s.clock.Now), app.WithMetrics(io.Discard))
	if err3 != nil {
		t.Fatal(err3)
	}
	// The passkey-login function with DPoP nonces on: it derives their
	// secret from TokenMacKey at init, through the conditional
	// DeriveDPoPNonceSecret (its only use of that key).
	env.Set("DPOP_NONCE", "required")
	rotPasskey, err5 := passkeyapp.PasskeySignIn(ctx, env.Getenv, app.WithAWSOptions(recorders["PasskeyLoginFunction"].Option()),
		app.WithClock(s.clock.Now), app.WithMetrics(io.Discard))
	if err5 != nil {
		t.Fatal(err5)
	}
	env.Set("DPOP_NONCE", "off")
	env.Set("SIGN_WITH_KEY_ID", "")
	pk.s = &service{env: env, clock: s.clock, passkeys: s.passkeys, passkeyIn: rotPasskey}
	if resp := pk.signIn(t, testenv.Ceremony{Credential: 1}); resp.StatusCode != 200 {
		t.Fatalf("passkey sign-in signing with SIGN_WITH_KEY_ID: %d %s", resp.StatusCode, resp.Body)
	}
	s.clock.Advance(time.Second) // after the user revocation above
	rotated := s.readTokens(t, call(t, rotLogin, loginEvent(t, "iris", "the right password")))
	if resp := call(t, rotRefresh, s.refreshRequest(t, rotated.Refresh)); resp.StatusCode != 200 {
		t.Fatalf("refresh signing with SIGN_WITH_KEY_ID: %d %s", resp.StatusCode, resp.Body)
	}

	// The snapshot compaction: a first generation, a fresh snapshot (the
	// pointer only), a quiet feed (the pointer moved), new items (a new
	// generation); then a cold authorizer loads it.
	snap, err4 := app.RevocationSnapshot(ctx, env.Getenv, app.WithAWSOptions(recorders["RevocationSnapshotFunction"].Option()),
		app.WithClock(s.clock.Now), app.WithMetrics(io.Discard))
	if err4 != nil {
		t.Fatal(err4)
	}
	for i, want := range []string{"written", "fresh", "moved", "written"} {
		if i == 3 {
			s.doLogin(t, "iris", "the right password")
			s.clock.Advance(time.Second)
			if resp := call(t, s.logoutAll, protected(t, "logout-all", authCtx)); resp.StatusCode >= 300 {
				t.Fatalf("logout-all: %d %s", resp.StatusCode, resp.Body)
			}
		}
		if i >= 2 {
			s.clock.Advance(dynamo.SnapshotEvery + time.Second)
		}
		res, err := snap(ctx, fixture(t, "revocation-snapshot"))
		// The quiet-feed step may write a new generation instead of moving
		// the pointer: this test's writers stamp with a clock it advances
		// by hand, ahead of the store's, and the replica counts no stamp
		// past the store's clock (a writer ahead is read again). Either
		// makes the same calls; TestCompactSnapshot holds the "moved" rule.
		if err != nil || (res.Outcome != want && !(want == "moved" && res.Outcome == "written")) {
			t.Fatalf("compaction %d: %+v %v, want %s", i, res, err, want)
		}
	}
	if _, err := app.Authorizer(ctx, env.Getenv, app.WithAWSOptions(recorders["AuthorizerFunction"].Option()),
		app.WithClock(s.clock.Now), app.WithMetrics(io.Discard)); err != nil {
		t.Fatal(err)
	}

	logical := map[string]string{
		env.Tables.Users: "UsersTable", env.Tables.LoginThrottle: "LoginThrottleTable",
		env.Tables.Sessions: "SessionsTable", env.Tables.Revocations: "RevocationsTable",
		env.Tables.Sessions + "/index/" + dynamo.UserSessionsIndex: "SessionsTable/index/" + dynamo.UserSessionsIndex,
		env.Tables.RevocationFeed:                                  "RevocationFeedTable",
		env.Tables.RevocationSnapshot:                              "RevocationSnapshotTable",
		env.ProofReplayTable:                                       "ProofReplayTable",
		env.KeyID:                                                  "SigningKey", env.MACKeyID: "TokenMacKey", prev: "PreviousSigningKeyIds",
		signWith:            "SignWithKeyId",
		env.Tables.Passkeys: "PasskeysTable", env.Tables.PasskeyChallenges: "PasskeyChallengesTable",
		env.Tables.Passkeys + "/index/" + dynamo.PasskeysByOwnerIndex: "PasskeysTable/index/" + dynamo.PasskeysByOwnerIndex,
		env.Tables.MFA: "MfaTable", env.TOTPKeyID: "TotpKey",
	}
	ids := make([]string, 0, len(policies))
	for id := range policies {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t.Run(id, func(t *testing.T) {
			grants := policies[id]
			if len(recorders[id].Calls()) == 0 && id != "MeFunction" {
				t.Fatal("no AWS call recorded: the flows did not run this function")
			}
			used := map[int]bool{}
			usedKeys := map[int]map[string]bool{} // grant -> its LeadingKeys patterns some allowed call matched
			for _, c := range recorders[id].Calls() {
				res, ok := logical[c.Resource]
				if !ok {
					t.Errorf("%s on %q: a resource the stack does not define", c.Action, c.Resource)
					continue
				}
				i := slices.IndexFunc(grants, func(g grant) bool { return g.allows(c.Action, res, c.LeadingKeys) })
				if i < 0 {
					t.Errorf("%s on %s (keys %q) is not allowed by its role", c.Action, res, c.LeadingKeys)
					continue
				}
				for j, g := range grants { // every statement that allows it counts as used
					if g.allows(c.Action, res, c.LeadingKeys) {
						used[j] = true
						for _, p := range g.matched(c.LeadingKeys) {
							if usedKeys[j] == nil {
								usedKeys[j] = map[string]bool{}
							}
							usedKeys[j][p] = true
						}
					}
				}
			}
			for j, g := range grants {
				// logs: and xray: are the runtime's (Lambda writes the logs and,
				// with TracingMode Active, the traces), not the code's.
				if strings.HasPrefix(g.Action, "logs:") || strings.HasPrefix(g.Action, "xray:") || used[j] {
					continue
				}
				if why, ok := unusedGrants(env.Getenv("REVOCATION_MODE"))[id+" "+g.Action+" "+g.Resource]; ok {
					t.Logf("unused on purpose: %s %s on %s: %s", g.Sid, g.Action, g.Resource, why)
					continue
				}
				t.Errorf("statement %s allows %s on %s, which the code never calls", g.Sid, g.Action, g.Resource)
			}
			// Per key prefix: a statement's dynamodb:LeadingKeys pattern that
			// no call of that action matched lets the role touch items it
			// never does (say, login writing or deleting a TOTP factor): split
			// the statement, one per action and prefix the code uses.
			for j, g := range grants {
				if !used[j] {
					continue // reported above, or unused on purpose
				}
				for _, p := range g.LeadingKeys {
					if usedKeys[j][p] {
						continue
					}
					if why, ok := unusedKeyPrefixes[id+" "+g.Action+" "+g.Resource+" "+p]; ok {
						t.Logf("unused on purpose: %s %s on %s keys %s: %s", g.Sid, g.Action, g.Resource, p, why)
						continue
					}
					t.Errorf("statement %s allows %s on %s for keys %q, which the code never touches", g.Sid, g.Action, g.Resource, p)
				}
			}
		})
	}
	// The snapshot's writes, as the compaction made them, are its role's
	// alone: every other function's role (a revoking function, which may
	// append to the feed, included) is refused each of them.
	t.Run("SnapshotWritesRefusedToOtherRoles", func(t *testing.T) {
		var writes []testenv.Call
		for _, c := range recorders["RevocationSnapshotFunction"].Calls() {
			if logical[c.Resource] == "RevocationSnapshotTable" && c.Action == "dynamodb:PutItem" {
				writes = append(writes, c)
			}
		}
		if len(writes) == 0 {
			t.Fatal("the compaction wrote no snapshot item")
		}
		for _, id := range ids {
			for _, c := range writes {
				allowed := slices.ContainsFunc(policies[id], func(g grant) bool { return g.allows(c.Action, "RevocationSnapshotTable", c.LeadingKeys) })
				if allowed != (id == "RevocationSnapshotFunction") {
					t.Errorf("%s %s on the snapshot table (keys %q): allowed %v", id, c.Action, c.LeadingKeys, allowed)
				}
			}
		}
	})
}

// TestSnapshotWritableOnlyBySnapshotFunction: the revocation snapshot
// (its pointer and parts) can be written by the revocation-snapshot
// function's role only. A role that may append to the feed (every
// revoking function, the stream function) attempting the snapshot
// function's own writes, the pointer's conditional put and a part's put,
// is refused by its policies; before the snapshot had a table of its own,
// every one of them was allowed.
func TestSnapshotWritableOnlyBySnapshotFunction(t *testing.T) {
	policies := functionPolicies(t)
	writes := []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
	var feedWriters []string
	for id, grants := range policies {
		if slices.ContainsFunc(grants, func(g grant) bool { return g.allows("dynamodb:PutItem", "RevocationFeedTable", nil) }) {
			feedWriters = append(feedWriters, id)
		}
		for _, a := range writes {
			allowed := slices.ContainsFunc(grants, func(g grant) bool {
				return g.allows(a, "RevocationSnapshotTable", nil) || g.allows(a, "RevocationSnapshotTable", []string{"pointer"})
			})
			if want := id == "RevocationSnapshotFunction" && a == "dynamodb:PutItem"; allowed != want {
				t.Errorf("%s %s on RevocationSnapshotTable: allowed %v, want %v", id, a, allowed, want)
			}
		}
		if id != "RevocationSnapshotFunction" && slices.ContainsFunc(grants, func(g grant) bool { return g.Resource == "RevocationSnapshotTable" && g.Action == "dynamodb:PutItem" }) {
			t.Errorf("%s may write the snapshot table", id)
		}
	}
	if len(feedWriters) < 5 {
		t.Fatalf("functions that may append to the feed: %v; the template changed, or this test reads it wrong", feedWriters)
	}
	if slices.Contains(feedWriters, "RevocationSnapshotFunction") {
		t.Error("the snapshot function may write the feed: it only reads it")
	}
}

// unusedKeyPrefixes are LeadingKeys patterns of statements that no test
// flow exercises with that action, each with its reason.
var unusedKeyPrefixes = func() map[string]string {
	m := map[string]string{}
	// A user over FeedBudgetPerUser revocations has the rest escalated to
	// one user entry (auth.Revoker): the flows here stay under the budget
	// (TestOneUserCannotFloodTheFeed covers the escalation).
	const budget = "an escalated revocation budget's user entry; these flows stay under the budget"
	for _, k := range []string{
		"EndSessionFunction dynamodb:GetItem", "EndSessionFunction dynamodb:PutItem",
		"LogoutFunction dynamodb:GetItem", "LogoutFunction dynamodb:PutItem",
		"LoginFunction dynamodb:GetItem",
		"PasskeyLoginFunction dynamodb:GetItem", "PasskeyLoginFunction dynamodb:PutItem",
		"RefreshFunction dynamodb:GetItem", "RefreshFunction dynamodb:PutItem",
		"TokenRevocationFunction dynamodb:GetItem", "TokenRevocationFunction dynamodb:PutItem",
	} {
		m[k+" RevocationsTable sub#*"] = budget
	}
	return m
}()

// matched is the LeadingKeys patterns of g that one of keys matches.
func (g grant) matched(keys []string) []string {
	var out []string
	for _, p := range g.LeadingKeys {
		if slices.ContainsFunc(keys, func(k string) bool { ok, _ := path.Match(p, k); return ok }) {
			out = append(out, p)
		}
	}
	return out
}

func (g grant) allows(action, resource string, keys []string) bool {
	if g.Action != action || g.Resource != resource {
		return false
	}
	if len(g.LeadingKeys) == 0 {
		return true
	}
	for _, k := range keys { // ForAllValues:StringLike
		if !slices.ContainsFunc(g.LeadingKeys, func(p string) bool { ok, _ := path.Match(p, k); return ok }) {
			return false
		}
	}
	return len(keys) > 0
}

// functionPolicies reads the statements of every function's policies from
// template.yaml: its inline Policies, or those of the Role it names.
func functionPolicies(t *testing.T) map[string][]grant {
	t.Helper()
	resources := templateResources(t)
	out := map[string][]grant{}
	for i := 0; i+1 < len(resources.Content); i += 2 {
		id, r := resources.Content[i].Value, resources.Content[i+1]
		if get(r, "Type").Value != "AWS::Serverless::Function" {
			continue
		}
		props := get(r, "Properties")
		var docs []*yaml.Node
		if role := get(props, "Role"); role != nil {
			roleID := strings.TrimSuffix(role.Value, ".Arn")
			for _, p := range get(get(get(resources, roleID), "Properties"), "Policies").Content {
				docs = append(docs, get(p, "PolicyDocument"))
			}
		} else if p := get(props, "Policies"); p != nil {
			docs = p.Content
		}
		out[id] = []grant{}
		for _, d := range docs {
			for _, st := range get(d, "Statement").Content {
				if st.Tag == "!If" { // [condition, statement, AWS::NoValue]: the statement when it applies
					st = st.Content[1]
				}
				out[id] = append(out[id], grants(st)...)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no functions found in template.yaml")
	}
	return out
}

func grants(st *yaml.Node) []grant {
	var actions, resources, keys []string
	for _, a := range list(get(st, "Action")) {
		actions = append(actions, a.Value)
	}
	for _, r := range list(get(st, "Resource")) {
		if r.Tag == "!Sub" { // "${Table.Arn}/index/name": Table/index/name
			resources = append(resources, strings.NewReplacer("${", "", ".Arn}", "").Replace(r.Value))
			continue
		}
		resources = append(resources, strings.TrimSuffix(r.Value, ".Arn"))
	}
	if like := get(get(st, "Condition"), "ForAllValues:StringLike"); like != nil {
		for _, k := range list(get(like, "dynamodb:LeadingKeys")) {
			keys = append(keys, k.Value)
		}
	}
	sid := ""
	if n := get(st, "Sid"); n != nil {
		sid = n.Value
	}
	var out []grant
	for _, a := range actions {
		for _, r := range resources {
			out = append(out, grant{Sid: sid, Action: a, Resource: r, LeadingKeys: keys})
		}
	}
	return out
}

// get is a mapping's value for key; nil if n is not a mapping or lacks it.
func get(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// list is a scalar as a one-item list, or a sequence's items.
func list(n *yaml.Node) []*yaml.Node {
	switch {
	case n == nil:
		return nil
	case n.Kind == yaml.SequenceNode && n.Tag != "!GetAtt":
		return n.Content
	}
	return []*yaml.Node{n}
}

// TestMFATableGrantsByKeyPrefix: the roles' grants on the MFA table, read
// from template.yaml, are per action and key prefix (dynamodb:LeadingKeys):
// the login role reads and updates a factor and writes, reads and deletes
// challenges, but cannot write a factor (an enrolment) nor delete one,
// nor update a challenge; the TOTP role manages factors and never touches
// a challenge. A call whose key is outside a statement's prefixes is
// refused by the same check TestIAMPoliciesMatchCalls applies to every
// recorded call, and so fails that test.
func TestMFATableGrantsByKeyPrefix(t *testing.T) {
	policies := functionPolicies(t)
	for _, row := range []struct {
		function, action string
		keys             []string
		want             bool
	}{
		{"LoginFunction", "dynamodb:GetItem", []string{"totp#u1"}, true},
		{"LoginFunction", "dynamodb:UpdateItem", []string{"totp#u1"}, true},
		{"LoginFunction", "dynamodb:PutItem", []string{"chal#abc"}, true},
		{"LoginFunction", "dynamodb:GetItem", []string{"chal#abc"}, true},
		{"LoginFunction", "dynamodb:DeleteItem", []string{"chal#abc"}, true},
		{"LoginFunction", "dynamodb:PutItem", []string{"totp#u1"}, false},    // an enrolment
		{"LoginFunction", "dynamodb:DeleteItem", []string{"totp#u1"}, false}, // removing the factor
		{"LoginFunction", "dynamodb:UpdateItem", []string{"chal#abc"}, false},
		{"LoginFunction", "dynamodb:GetItem", []string{"other#x"}, false},
		{"LoginFunction", "dynamodb:GetItem", nil, false}, // no key: the condition cannot hold
		{"TotpFunction", "dynamodb:PutItem", []string{"totp#u1"}, true},
		{"TotpFunction", "dynamodb:DeleteItem", []string{"totp#u1"}, true},
		{"TotpFunction", "dynamodb:GetItem", []string{"chal#abc"}, false},
		{"TotpFunction", "dynamodb:DeleteItem", []string{"chal#abc"}, false},
		{"RefreshFunction", "dynamodb:GetItem", []string{"totp#u1"}, false},
	} {
		got := slices.ContainsFunc(policies[row.function], func(g grant) bool { return g.allows(row.action, "MfaTable", row.keys) })
		if got != row.want {
			t.Errorf("%s %s on MfaTable keys %q: allowed %v, want %v", row.function, row.action, row.keys, got, row.want)
		}
	}
	// Every statement on the MFA table names its prefixes.
	for id, grants := range policies {
		for _, g := range grants {
			if g.Resource == "MfaTable" && len(g.LeadingKeys) == 0 {
				t.Errorf("%s: statement %s allows %s on the whole MFA table", id, g.Sid, g.Action)
			}
		}
	}
}
