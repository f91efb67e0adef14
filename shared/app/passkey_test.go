package app_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
)

// The passkey flows through the real wiring of the passkeys and
// passkey-login functions, against DynamoDB Local and local KMS, with a
// software authenticator (testenv.Authenticator) in the browser's place.

const passkeyOrigin = "https://app.test.example" // testenv's PASSKEY_ORIGINS and PASSKEY_RP_ID

type passkeyRig struct {
	s       *service
	authn   *testenv.Authenticator
	authCtx map[string]any // the password login's, for the protected routes
	login   tokens
}

func newPasskeyRig(t *testing.T) *passkeyRig {
	t.Helper()
	env := testenv.New(t)
	env.CreateUser(t, "pia", "pia's long password")
	s := newService(t, env)
	r := &passkeyRig{s: s, authn: testenv.NewAuthenticator("app.test.example", passkeyOrigin)}
	r.login = s.doLogin(t, "pia", "pia's long password")
	ok, ctx := s.authorize(t, r.login.Access)
	if !ok {
		t.Fatal("the password login's access token is denied")
	}
	r.authCtx = ctx
	return r
}

// registerOptions asks for creation options as the signed-in user.
func (r *passkeyRig) registerOptions(t *testing.T) apigw.Response {
	t.Helper()
	return call(t, r.s.passkeys, protected(t, "passkeys-register-options", r.authCtx))
}

// register runs a whole registration, the authenticator's answer changed
// by c; it returns the finish's response.
func (r *passkeyRig) register(t *testing.T, c testenv.Ceremony) apigw.Response {
	t.Helper()
	opts := r.registerOptions(t)
	if opts.StatusCode != 200 {
		t.Fatalf("register options: %d %s", opts.StatusCode, opts.Body)
	}
	cred, err := r.authn.Create([]byte(opts.Body), c)
	if err != nil {
		t.Fatal(err)
	}
	return r.finishRegistration(t, cred)
}

func (r *passkeyRig) finishRegistration(t *testing.T, cred []byte) apigw.Response {
	t.Helper()
	req := protected(t, "passkeys-register", r.authCtx)
	req.Body = string(cred)
	return call(t, r.s.passkeys, req)
}

// signInOptions asks for request options, as anyone.
func (r *passkeyRig) signInOptions(t *testing.T) []byte {
	t.Helper()
	resp := call(t, r.s.passkeyIn, httpEvent(t, "passkey-login-options"))
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in options: %d %s", resp.StatusCode, resp.Body)
	}
	return []byte(resp.Body)
}

func (r *passkeyRig) signInWith(t *testing.T, assertion []byte) apigw.Response {
	t.Helper()
	req := httpEvent(t, "passkey-login")
	req.Body = string(assertion)
	return call(t, r.s.passkeyIn, req)
}

// signIn runs a whole sign-in, the authenticator's answer changed by c.
func (r *passkeyRig) signIn(t *testing.T, c testenv.Ceremony) apigw.Response {
	t.Helper()
	a, err := r.authn.Get(r.signInOptions(t), c)
	if err != nil {
		t.Fatal(err)
	}
	return r.signInWith(t, a)
}

func (r *passkeyRig) list(t *testing.T) []apigw.PasskeyJSON {
	t.Helper()
	resp := call(t, r.s.passkeys, protected(t, "passkeys-list", r.authCtx))
	var body apigw.PasskeysResponse
	if resp.StatusCode != 200 || json.Unmarshal([]byte(resp.Body), &body) != nil {
		t.Fatalf("list: %d %s", resp.StatusCode, resp.Body)
	}
	return body.Passkeys
}

// TestPasskeyFlow: a signed-in user registers a passkey, signs in with it
// and no username, lists it and removes it; the removed passkey signs
// nobody in. The passkey sign-in's access token says how (amr) and when
// (auth_time), and the authorizer allows it.
func TestPasskeyFlow(t *testing.T) {
	r := newPasskeyRig(t)
	resp := r.register(t, testenv.Ceremony{})
	if resp.StatusCode != 201 {
		t.Fatalf("register: %d %s", resp.StatusCode, resp.Body)
	}
	var created apigw.PasskeyJSON
	json.Unmarshal([]byte(resp.Body), &created)
	list := r.list(t)
	if len(list) != 1 || list[0].ID != created.ID || !slices.Equal(list[0].Transports, []string{"internal"}) || list[0].Refused {
		t.Fatalf("list after registering %+v: %+v", created, list)
	}

	r.s.clock.Advance(time.Hour) // a passkey sign-in needs no recent anything
	in := r.signIn(t, testenv.Ceremony{})
	if in.StatusCode != 200 {
		t.Fatalf("passkey sign-in: %d %s", in.StatusCode, in.Body)
	}
	tok := r.s.readTokens(t, in)
	if tok.Refresh == "" {
		t.Error("passkey sign-in set no refresh cookie")
	}
	ok, ctx := r.s.authorize(t, tok.Access)
	if !ok || ctx["sub"] != r.authCtx["sub"] {
		t.Fatalf("authorizer on the passkey sign-in's token: %v %v (want sub %v)", ok, ctx, r.authCtx["sub"])
	}
	c := claimsOf(t, tok.Access)
	// RFC 8176: a device-bound key (BE unset) with user verification.
	if !slices.Equal(c.AMR, []string{"hwk", "user", "mfa"}) || c.AuthTime == nil || !c.AuthTime.Equal(r.s.clock.Now().Truncate(time.Second)) {
		t.Errorf("amr %v auth_time %v, want [hwk user mfa] at %v", c.AMR, c.AuthTime, r.s.clock.Now())
	}
	if got := r.list(t)[0]; !got.LastUsedAt.Equal(r.s.clock.Now().Truncate(time.Millisecond).UTC()) {
		t.Errorf("last_used_at %v, want the sign-in's %v", got.LastUsedAt, r.s.clock.Now())
	}

	// Removing needs a recent sign-in too: the password login is an hour old.
	del := protected(t, "passkeys-delete", r.authCtx)
	del.PathParameters = map[string]string{"id": created.ID}
	if resp := call(t, r.s.passkeys, del); resp.StatusCode != 401 || errorCode(t, resp) != "insufficient_user_authentication" {
		t.Fatalf("remove with a sign-in an hour old: %d %s", resp.StatusCode, resp.Body)
	}
	// The passkey sign-in is recent: its session removes the passkey.
	_, r.authCtx = r.s.authorize(t, tok.Access)
	del = protected(t, "passkeys-delete", r.authCtx)
	del.PathParameters = map[string]string{"id": created.ID}
	if resp := call(t, r.s.passkeys, del); resp.StatusCode != 204 {
		t.Fatalf("remove: %d %s", resp.StatusCode, resp.Body)
	}
	if resp := call(t, r.s.passkeys, del); resp.StatusCode != 404 || errorCode(t, resp) != "passkey_not_found" {
		t.Errorf("remove twice: %d %s", resp.StatusCode, resp.Body)
	}
	if l := r.list(t); len(l) != 0 {
		t.Errorf("list after removing: %+v", l)
	}
	// Removing ends nothing else: the session it started lives on.
	if ok, _ := r.s.authorize(t, tok.Access); !ok {
		t.Error("removing the passkey ended the session it started")
	}
	if resp := r.signIn(t, testenv.Ceremony{}); resp.StatusCode != 401 || errorCode(t, resp) != "passkey_refused" {
		t.Errorf("sign-in with a removed passkey: %d %s", resp.StatusCode, resp.Body)
	}
}

// TestPasskeySyncedAMR: a backup-eligible (synced) passkey signs in as
// swk (RFC 8176: a software-secured key), not hwk.
func TestPasskeySyncedAMR(t *testing.T) {
	r := newPasskeyRig(t)
	r.authn.BackupEligible = true
	if resp := r.register(t, testenv.Ceremony{}); resp.StatusCode != 201 {
		t.Fatalf("register: %d %s", resp.StatusCode, resp.Body)
	}
	if l := r.list(t); len(l) != 1 || !l[0].BackupEligible || !l[0].BackupState {
		t.Errorf("list: %+v, want a backup eligible, backed up passkey", l)
	}
	in := r.signIn(t, testenv.Ceremony{})
	if in.StatusCode != 200 {
		t.Fatalf("sign-in: %d %s", in.StatusCode, in.Body)
	}
	if amr := claimsOf(t, r.s.readTokens(t, in).Access).AMR; !slices.Equal(amr, []string{"swk", "user", "mfa"}) {
		t.Errorf("amr %v, want [swk user mfa]", amr)
	}
}

// TestPasskeyRegistrationRefusals: each check of the registration
// ceremony, broken one at a time, refuses the credential and stores
// nothing.
func TestPasskeyRegistrationRefusals(t *testing.T) {
	other := "https://evil.test.example"
	for _, tc := range []struct {
		name string
		c    testenv.Ceremony
	}{
		{"wrong origin (phishing page)", testenv.Ceremony{Origin: other}},
		{"wrong RP ID hash", testenv.Ceremony{RPID: "evil.example"}},
		{"no user verification", testenv.Ceremony{NoUV: true}},
		{"a challenge never issued", testenv.Ceremony{Challenge: base64.RawURLEncoding.EncodeToString(make([]byte, 32))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newPasskeyRig(t)
			resp := r.register(t, tc.c)
			if resp.StatusCode != 401 || errorCode(t, resp) != "passkey_refused" {
				t.Errorf("register: %d %s, want 401 passkey_refused", resp.StatusCode, resp.Body)
			}
			if l := r.list(t); len(l) != 0 {
				t.Errorf("a refused registration stored %+v", l)
			}
		})
	}
}

// TestPasskeyRegistrationNeedsRecentSignIn: registering needs a sign-in
// of the last 5 minutes (the session's auth_time, which refreshing does
// not move), answered as RFC 9470 says: 401
// insufficient_user_authentication with max_age. A challenge given while
// it was recent cannot be finished once it is not.
func TestPasskeyRegistrationNeedsRecentSignIn(t *testing.T) {
	r := newPasskeyRig(t)
	opts := r.registerOptions(t)
	if opts.StatusCode != 200 {
		t.Fatalf("options within 5 min: %d %s", opts.StatusCode, opts.Body)
	}
	cred, err := r.authn.Create([]byte(opts.Body), testenv.Ceremony{})
	if err != nil {
		t.Fatal(err)
	}
	r.s.clock.Advance(5*time.Minute + time.Second)
	// A refresh keeps the login's auth_time: still too old.
	refreshed := r.s.readTokens(t, r.s.refreshWith(t, r.login.Refresh))
	_, r.authCtx = r.s.authorize(t, refreshed.Access)
	for name, resp := range map[string]apigw.Response{
		"options": r.registerOptions(t), "finish": r.finishRegistration(t, cred),
	} {
		if resp.StatusCode != 401 || errorCode(t, resp) != "insufficient_user_authentication" ||
			!strings.Contains(resp.Headers["www-authenticate"], `error="insufficient_user_authentication"`) ||
			!strings.Contains(resp.Headers["www-authenticate"], "max_age=300") {
			t.Errorf("%s with a sign-in 5 min old: %d %v %s", name, resp.StatusCode, resp.Headers, resp.Body)
		}
	}
	if l := r.list(t); len(l) != 0 {
		t.Errorf("stale registration stored %+v", l)
	}
}

// TestPasskeySignInRefusals: each check of the sign-in ceremony, broken
// one at a time, refuses the assertion with no tokens.
func TestPasskeySignInRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    testenv.Ceremony
	}{
		{"wrong origin (phishing page)", testenv.Ceremony{Origin: "https://app.test.example.evil.example"}},
		{"wrong RP ID hash", testenv.Ceremony{RPID: "evil.example"}},
		{"no user verification", testenv.Ceremony{NoUV: true}},
		{"unknown credential", testenv.Ceremony{UnknownCredential: true}},
		{"a challenge never issued", testenv.Ceremony{Challenge: base64.RawURLEncoding.EncodeToString(make([]byte, 32))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newPasskeyRig(t)
			if resp := r.register(t, testenv.Ceremony{}); resp.StatusCode != 201 {
				t.Fatalf("register: %d %s", resp.StatusCode, resp.Body)
			}
			resp := r.signIn(t, tc.c)
			if resp.StatusCode != 401 || errorCode(t, resp) != "passkey_refused" || len(resp.Cookies) != 0 {
				t.Errorf("sign-in: %d %v %s, want 401 passkey_refused and no cookie", resp.StatusCode, resp.Cookies, resp.Body)
			}
			// The passkey itself is fine: an honest answer signs in.
			if resp := r.signIn(t, testenv.Ceremony{}); resp.StatusCode != 200 {
				t.Errorf("honest sign-in after the refusal: %d %s", resp.StatusCode, resp.Body)
			}
		})
	}
}

// TestPasskeyChallengeSingleUse: an answer replayed (the same assertion
// twice), an answer after the challenge expired, and a registration's
// challenge answered at sign-in are refused.
func TestPasskeyChallengeSingleUse(t *testing.T) {
	r := newPasskeyRig(t)
	if resp := r.register(t, testenv.Ceremony{}); resp.StatusCode != 201 {
		t.Fatalf("register: %d %s", resp.StatusCode, resp.Body)
	}
	a, err := r.authn.Get(r.signInOptions(t), testenv.Ceremony{})
	if err != nil {
		t.Fatal(err)
	}
	if resp := r.signInWith(t, a); resp.StatusCode != 200 {
		t.Fatalf("first answer: %d %s", resp.StatusCode, resp.Body)
	}
	if resp := r.signInWith(t, a); resp.StatusCode != 401 || errorCode(t, resp) != "passkey_refused" {
		t.Errorf("replayed assertion: %d %s", resp.StatusCode, resp.Body)
	}

	late, err := r.authn.Get(r.signInOptions(t), testenv.Ceremony{})
	if err != nil {
		t.Fatal(err)
	}
	r.s.clock.Advance(5*time.Minute + time.Second)
	if resp := r.signInWith(t, late); resp.StatusCode != 401 {
		t.Errorf("answer after the challenge expired: %d %s", resp.StatusCode, resp.Body)
	}

	// A fresh password login (recent), then a registration's challenge
	// answered as a sign-in (same authenticator, same key).
	r.login = r.s.doLogin(t, "pia", "pia's long password")
	_, r.authCtx = r.s.authorize(t, r.login.Access)
	opts := r.registerOptions(t)
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	json.Unmarshal([]byte(opts.Body), &o)
	cross, err := r.authn.Get([]byte(`{"publicKey":{"challenge":"`+o.PublicKey.Challenge+`"}}`), testenv.Ceremony{})
	if err != nil {
		t.Fatal(err)
	}
	if resp := r.signInWith(t, cross); resp.StatusCode != 401 {
		t.Errorf("a registration challenge answered at sign-in: %d %s", resp.StatusCode, resp.Body)
	}
}

// TestPasskeyChallengeRace: two answers to one challenge sent at once
// (the same assertion, as a replay racing the original): exactly one
// signs in.
func TestPasskeyChallengeRace(t *testing.T) {
	r := newPasskeyRig(t)
	if resp := r.register(t, testenv.Ceremony{}); resp.StatusCode != 201 {
		t.Fatalf("register: %d %s", resp.StatusCode, resp.Body)
	}
	for round := range 5 {
		a, err := r.authn.Get(r.signInOptions(t), testenv.Ceremony{})
		if err != nil {
			t.Fatal(err)
		}
		const n = 4
		statuses := make([]int, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				req := httpEvent(t, "passkey-login")
				req.Body = string(a)
				resp, err := r.s.passkeyIn(t.Context(), req)
				if err != nil {
					t.Error(err)
				}
				statuses[i] = resp.StatusCode
			})
		}
		close(start)
		wg.Wait()
		if got := slices.Index(statuses, http.StatusOK); got < 0 || slices.Index(statuses[got+1:], http.StatusOK) >= 0 {
			t.Errorf("round %d: statuses %v, want exactly one 200", round, statuses)
		}
		for _, st := range statuses {
			if st != 200 && st != 401 {
				t.Errorf("round %d: status %d", round, st)
			}
		}
	}
}

// TestPasskeySignCountRegression: WebAuthn L3 §7.2 step 22. An assertion
// whose signature counter is not above the stored one (a cloned
// authenticator) is refused and logged, and the credential is flagged:
// even an assertion with a higher counter is refused afterwards, and the
// list shows it as refused.
func TestPasskeySignCountRegression(t *testing.T) {
	r := newPasskeyRig(t)
	if resp := r.register(t, testenv.Ceremony{}); resp.StatusCode != 201 {
		t.Fatalf("register: %d %s", resp.StatusCode, resp.Body)
	}
	for range 3 { // counters 1, 2, 3
		if resp := r.signIn(t, testenv.Ceremony{}); resp.StatusCode != 200 {
			t.Fatalf("sign-in: %d %s", resp.StatusCode, resp.Body)
		}
	}
	two := uint32(2)
	if resp := r.signIn(t, testenv.Ceremony{Count: &two}); resp.StatusCode != 401 || errorCode(t, resp) != "passkey_refused" {
		t.Fatalf("counter 2 after 3: %d %s", resp.StatusCode, resp.Body)
	}
	if !strings.Contains(r.s.logs.String(), "passkey sign count went back") {
		t.Error("the regression is not logged")
	}
	if resp := r.signIn(t, testenv.Ceremony{}); resp.StatusCode != 401 {
		t.Errorf("flagged credential with counter 4: %d %s", resp.StatusCode, resp.Body)
	}
	if l := r.list(t); len(l) != 1 || !l[0].Refused {
		t.Errorf("list: %+v, want the passkey marked refused", l)
	}
	// Counters that stay 0 (most synced passkeys) are no regression.
	r2 := newPasskeyRig(t)
	if resp := r2.register(t, testenv.Ceremony{}); resp.StatusCode != 201 {
		t.Fatalf("register: %d %s", resp.StatusCode, resp.Body)
	}
	zero := uint32(0)
	for range 2 {
		if resp := r2.signIn(t, testenv.Ceremony{Count: &zero}); resp.StatusCode != 200 {
			t.Errorf("counter 0 twice: %d %s", resp.StatusCode, resp.Body)
		}
	}
}
