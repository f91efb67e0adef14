package app_test

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
)

// totpRequest is a request of a TOTP route as API Gateway passes it on
// after the authorizer allowed it (authCtx).
func totpRequest(t *testing.T, routeKey string, authCtx map[string]any, body any) apigw.Request {
	t.Helper()
	req := protected(t, "me", authCtx)
	method, path, _ := strings.Cut(routeKey, " ")
	req.RouteKey, req.RawPath = routeKey, path
	req.RequestContext.RouteKey = routeKey
	req.RequestContext.HTTP.Method, req.RequestContext.HTTP.Path = method, path
	if body != nil {
		b, _ := json.Marshal(body)
		req.Body = string(b)
		req.Headers["content-type"] = "application/json"
	}
	return req
}

// code is the TOTP code of secret at the service's clock, computed by
// github.com/pquerna/otp (an authenticator app's computation).
func (s *service) code(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, s.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signedIn logs in with a password only (no factor yet) and returns the
// tokens and the authorizer's context for them.
func (s *service) signedIn(t *testing.T, user, pw string) (tokens, map[string]any) {
	t.Helper()
	tk := s.doLogin(t, user, pw)
	ok, ctx := s.authorize(t, tk.Access)
	if !ok {
		t.Fatal("a fresh login's access token is denied")
	}
	return tk, ctx
}

// wrongCode is a 6-digit code that is not code.
func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

// newEnrolled creates user with password pw, signs in and enrols TOTP: the
// service, the sign-in's authorizer context, the TOTP secret and the
// recovery codes.
func newEnrolled(t *testing.T, env *testenv.Env, user, pw string) (s *service, authCtx map[string]any, secret string, recovery []string) {
	t.Helper()
	env.CreateUser(t, user, pw)
	s = newService(t, env)
	_, authCtx = s.signedIn(t, user, pw)
	secret, recovery = s.enrol(t, authCtx)
	return s, authCtx, secret, recovery
}

// enrolStart starts an enrolment and returns the secret.
func (s *service) enrolStart(t *testing.T, authCtx map[string]any) string {
	t.Helper()
	resp := call(t, s.totp, totpRequest(t, "POST /auth/mfa/totp", authCtx, map[string]string{"label": "ivy@example.com"}))
	if resp.StatusCode != 201 {
		t.Fatalf("enrol: %d %s", resp.StatusCode, resp.Body)
	}
	var e apigw.TOTPEnrolment
	json.Unmarshal([]byte(resp.Body), &e)
	u, err := url.Parse(e.OTPAuthURI)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("secret") != e.Secret || len(e.Secret) != 32 {
		t.Fatalf("enrolment %+v: not an otpauth URI of its secret", e)
	}
	if !strings.HasPrefix(e.QRCode, "data:image/png;base64,") {
		t.Errorf("qr_code %.40q is not a PNG data URI", e.QRCode)
	}
	return e.Secret
}

// enrol enrols and confirms a TOTP factor; it returns the secret and the
// recovery codes.
func (s *service) enrol(t *testing.T, authCtx map[string]any) (string, []string) {
	t.Helper()
	secret := s.enrolStart(t, authCtx)
	resp := call(t, s.totp, totpRequest(t, "POST /auth/mfa/totp/confirm", authCtx, map[string]string{"code": s.code(t, secret)}))
	if resp.StatusCode != 200 {
		t.Fatalf("confirm: %d %s", resp.StatusCode, resp.Body)
	}
	var rc apigw.RecoveryCodes
	json.Unmarshal([]byte(resp.Body), &rc)
	if len(rc.RecoveryCodes) != 10 {
		t.Fatalf("confirm gave %d recovery codes, want 10", len(rc.RecoveryCodes))
	}
	return secret, rc.RecoveryCodes
}

// mfaChallenge logs in with the password of a user with a factor and
// returns the challenge (403 mfa_required).
func (s *service) mfaChallenge(t *testing.T, user, pw string) string {
	t.Helper()
	resp := call(t, s.login, loginEvent(t, user, pw))
	var body apigw.ErrorBody
	json.Unmarshal([]byte(resp.Body), &body)
	if resp.StatusCode != 403 || body.Error != "mfa_required" || len(body.MFAToken) != 43 || body.ExpiresIn != 300 {
		t.Fatalf("password step of a user with a factor: %d %s, want 403 mfa_required with a challenge", resp.StatusCode, resp.Body)
	}
	if len(resp.Cookies) != 0 || strings.Contains(resp.Body, "access_token") {
		t.Fatalf("the password step handed out tokens: %v %s", resp.Cookies, resp.Body)
	}
	return body.MFAToken
}

func (s *service) finishMFA(t *testing.T, challenge, code, recovery string) apigw.Response {
	t.Helper()
	return call(t, s.login, mfaEvent(t, challenge, code, recovery))
}

// mfaEvent is POST /auth/login/mfa with a challenge and a code or a
// recovery code.
func mfaEvent(t *testing.T, challenge, code, recovery string) apigw.Request {
	t.Helper()
	req := loginEvent(t, "", "")
	req.RouteKey, req.RawPath = "POST /auth/login/mfa", "/auth/login/mfa"
	b, _ := json.Marshal(map[string]string{"mfa_token": challenge, "code": code, "recovery_code": recovery})
	req.Body = strings.NewReplacer(`,"code":""`, "", `,"recovery_code":""`, "").Replace(string(b))
	return req
}

// TestTOTPLogin: enrolment (pending until a first code), then a password
// login answers a challenge instead of tokens, finished by a code: amr
// pwd otp mfa and auth_time in the access token, kept by a refresh. A
// code is accepted once, a challenge once and only for 5 minutes, a
// recovery code once; wrong codes are throttled like passwords.
func TestTOTPLogin(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "ivy@example.com", "ivy's password")
	s := newService(t, env)
	_, authCtx := s.signedIn(t, "ivy@example.com", "ivy's password")
	if amr := authCtx["amr"]; amr != "pwd" {
		t.Errorf("a password login's amr in the context: %v, want pwd", amr)
	}

	// Pending: a login is not asked for a code, and a wrong code confirms nothing.
	resp := call(t, s.totp, totpRequest(t, "POST /auth/mfa/totp", authCtx, nil))
	var e apigw.TOTPEnrolment
	json.Unmarshal([]byte(resp.Body), &e)
	s.doLogin(t, "ivy@example.com", "ivy's password")
	wrong := "000000"
	if wrong == s.code(t, e.Secret) {
		wrong = "111111"
	}
	if resp := call(t, s.totp, totpRequest(t, "POST /auth/mfa/totp/confirm", authCtx, map[string]string{"code": wrong})); resp.StatusCode != 401 || errorCode(t, resp) != "invalid_mfa" {
		t.Fatalf("confirm with a wrong code: %d %s", resp.StatusCode, resp.Body)
	}
	secret, recovery := s.enrol(t, authCtx)
	status := call(t, s.totp, totpRequest(t, "GET /auth/mfa/totp", authCtx, nil))
	if !strings.Contains(status.Body, `"active":true`) || !strings.Contains(status.Body, `"recovery_codes":10`) {
		t.Errorf("status after confirmation: %s", status.Body)
	}

	// The code that confirmed the enrolment is used: refused at login (RFC 6238 5.2).
	used := s.code(t, secret)
	challenge := s.mfaChallenge(t, "ivy@example.com", "ivy's password")
	if resp := s.finishMFA(t, challenge, used, ""); resp.StatusCode != 401 || errorCode(t, resp) != "invalid_mfa" {
		t.Fatalf("a replayed code: %d %s, want 401 invalid_mfa", resp.StatusCode, resp.Body)
	}
	s.clock.Advance(30 * time.Second)
	signedIn := s.readTokens(t, s.finishMFA(t, challenge, s.code(t, secret), ""))
	ok, ctx := s.authorize(t, signedIn.Access)
	if !ok || ctx["amr"] != "pwd otp mfa" || ctx["auth_time"] != s.clock.Now().Unix() {
		t.Fatalf("after the second factor: allowed %v, context %v; want amr \"pwd otp mfa\", auth_time %d", ok, ctx, s.clock.Now().Unix())
	}
	// The same code again, and the same challenge with the next code: refused.
	again := s.mfaChallenge(t, "ivy@example.com", "ivy's password")
	if resp := s.finishMFA(t, again, s.code(t, secret), ""); resp.StatusCode != 401 {
		t.Fatalf("a code used a moment ago, on a new challenge: %d %s", resp.StatusCode, resp.Body)
	}
	s.clock.Advance(30 * time.Second)
	if resp := s.finishMFA(t, challenge, s.code(t, secret), ""); resp.StatusCode != 401 || errorCode(t, resp) != "invalid_mfa" {
		t.Fatalf("a used challenge: %d %s", resp.StatusCode, resp.Body)
	}
	// A refresh keeps amr and auth_time: it is not a new sign-in.
	signInTime := ctx["auth_time"]
	s.clock.Advance(time.Minute)
	refreshed := s.readTokens(t, s.refreshWith(t, signedIn.Refresh))
	if _, rctx := s.authorize(t, refreshed.Access); rctx["amr"] != "pwd otp mfa" || rctx["auth_time"] != signInTime {
		t.Errorf("after a refresh: %v, want amr \"pwd otp mfa\" and auth_time %v", rctx, signInTime)
	}

	// An expired challenge (5 minutes).
	late := s.mfaChallenge(t, "ivy@example.com", "ivy's password")
	s.clock.Advance(5*time.Minute + time.Second)
	if resp := s.finishMFA(t, late, s.code(t, secret), ""); resp.StatusCode != 401 {
		t.Fatalf("an expired challenge: %d %s", resp.StatusCode, resp.Body)
	}

	// A recovery code, once; typed in upper case without dashes it is the same code.
	typed := strings.ToUpper(strings.ReplaceAll(recovery[0], "-", ""))
	rec := s.readTokens(t, s.finishMFA(t, s.mfaChallenge(t, "ivy@example.com", "ivy's password"), "", typed))
	if _, rctx := s.authorize(t, rec.Access); rctx["amr"] != "pwd mfa" {
		t.Errorf("a recovery code's amr: %v, want \"pwd mfa\"", rctx["amr"])
	}
	if resp := s.finishMFA(t, s.mfaChallenge(t, "ivy@example.com", "ivy's password"), "", recovery[0]); resp.StatusCode != 401 {
		t.Fatalf("a used recovery code: %d %s", resp.StatusCode, resp.Body)
	}

	// Wrong codes are throttled per user: after LOGIN_MAX_FAILURES (5)
	// wrong ones even the right code waits (429, Retry-After).
	s.clock.Advance(time.Minute)
	guess := s.mfaChallenge(t, "ivy@example.com", "ivy's password")
	bad := "000000"
	if bad == s.code(t, secret) {
		bad = "111111"
	}
	for i := range 4 {
		if resp := s.finishMFA(t, guess, bad, ""); resp.StatusCode != 401 {
			t.Fatalf("wrong code %d: %d %s", i+1, resp.StatusCode, resp.Body)
		}
	}
	resp = s.finishMFA(t, guess, s.code(t, secret), "")
	if resp.StatusCode != 429 || resp.Headers["retry-after"] == "" {
		t.Fatalf("the right code after 5 wrong ones: %d %s, want 429 with Retry-After", resp.StatusCode, resp.Body)
	}
	// A new password login does not reset the count of code guesses.
	if resp := s.finishMFA(t, s.mfaChallenge(t, "ivy@example.com", "ivy's password"), s.code(t, secret), ""); resp.StatusCode != 429 {
		t.Fatalf("a new challenge while codes are locked: %d %s, want 429", resp.StatusCode, resp.Body)
	}
	if n := s.metrics.Count("SecondFactor", map[string]string{"Outcome": "invalid_credentials"}); n < 5 {
		t.Errorf("SecondFactor invalid_credentials counted %v times, want at least 5", n)
	}
	for _, secretText := range []string{secret, recovery[1], challenge} {
		if strings.Contains(s.logs.String(), secretText) {
			t.Errorf("a secret reached the logs: %.8s...", secretText)
		}
	}
}

// TestTOTPRemoveNeedsRecentSignIn: removing the factor needs a sign-in
// within 5 minutes (RFC 9470: 401 insufficient_user_authentication with
// max_age) and a valid code.
func TestTOTPRemoveNeedsRecentSignIn(t *testing.T) {
	env := testenv.New(t)
	s, authCtx, secret, _ := newEnrolled(t, env, "ivy@example.com", "ivy's password")
	s.clock.Advance(6 * time.Minute)
	resp := call(t, s.totp, totpRequest(t, "DELETE /auth/mfa/totp", authCtx, map[string]string{"code": s.code(t, secret)}))
	want := `Bearer realm="lambda-auth", error="insufficient_user_authentication", error_description="a sign-in within the last 300 seconds is required", max_age="300"`
	if resp.StatusCode != 401 || errorCode(t, resp) != "insufficient_user_authentication" || resp.Headers["www-authenticate"] != want {
		t.Fatalf("remove after 6 minutes: %d %v %s\nwant 401 with WWW-Authenticate %s", resp.StatusCode, resp.Headers, resp.Body, want)
	}
	// Signed in again (with the factor): a wrong code is refused, a right one removes it.
	tk := s.readTokens(t, s.finishMFA(t, s.mfaChallenge(t, "ivy@example.com", "ivy's password"), s.code(t, secret), ""))
	_, fresh := s.authorize(t, tk.Access)
	s.clock.Advance(30 * time.Second)
	if resp := call(t, s.totp, totpRequest(t, "DELETE /auth/mfa/totp", fresh, map[string]string{"code": "12345x"})); resp.StatusCode != 400 {
		t.Fatalf("remove with a malformed code: %d %s", resp.StatusCode, resp.Body)
	}
	if resp := call(t, s.totp, totpRequest(t, "DELETE /auth/mfa/totp", fresh, map[string]string{"code": s.code(t, secret)})); resp.StatusCode != 204 {
		t.Fatalf("remove: %d %s", resp.StatusCode, resp.Body)
	}
	s.doLogin(t, "ivy@example.com", "ivy's password") // no challenge any more
}

// TestChangePassword: the current password is required (and throttled
// as a login), the new one meets the policy; every other session of the
// user ends, the caller's device goes on in a new session.
func TestChangePassword(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "ivy@example.com", "ivy's password")
	s := newService(t, env)
	a, actx := s.signedIn(t, "ivy@example.com", "ivy's password")
	b, _ := s.signedIn(t, "ivy@example.com", "ivy's password")
	s.clock.Advance(time.Second)
	change := func(current, next string) apigw.Response {
		req := totpRequest(t, "POST /auth/password", actx, map[string]string{"current_password": current, "new_password": next})
		return call(t, s.login, req)
	}
	if resp := change("not my password", "a brand new password"); resp.StatusCode != 401 || errorCode(t, resp) != "invalid_credentials" {
		t.Fatalf("a wrong current password: %d %s", resp.StatusCode, resp.Body)
	}
	if resp := change("ivy's password", "short"); resp.StatusCode != 400 {
		t.Fatalf("a new password of 5 characters: %d %s", resp.StatusCode, resp.Body)
	}
	resp := change("ivy's password", "a brand new password")
	if resp.StatusCode != 200 {
		t.Fatalf("change password: %d %s", resp.StatusCode, resp.Body)
	}
	next := s.readTokens(t, resp)
	for name, tk := range map[string]tokens{"the caller's old": a, "another device's": b} {
		if ok, _ := s.authorize(t, tk.Access); ok {
			t.Errorf("%s access token still allowed", name)
		}
		if resp := s.refreshWith(t, tk.Refresh); resp.StatusCode != 401 {
			t.Errorf("%s refresh token: %d, want 401", name, resp.StatusCode)
		}
	}
	// The device goes on with its old sign-in: a password check makes no
	// "recent sign-in" (else the password alone would register a passkey
	// or enrol a factor past the second factor).
	if ok, nctx := s.authorize(t, next.Access); !ok {
		t.Error("the new session's access token is denied")
	} else if nctx["auth_time"] != actx["auth_time"] || nctx["amr"] != actx["amr"] {
		t.Errorf("the new session's sign-in: amr %v auth_time %v, want the old session's %v %v",
			nctx["amr"], nctx["auth_time"], actx["amr"], actx["auth_time"])
	}
	if resp := s.refreshWith(t, next.Refresh); resp.StatusCode != 200 {
		t.Errorf("the new session's refresh: %d %s", resp.StatusCode, resp.Body)
	}
	s.clock.Advance(time.Second) // past the cutoff (a login at its very millisecond is covered)
	if resp := call(t, s.login, loginEvent(t, "ivy@example.com", "ivy's password")); resp.StatusCode != 401 {
		t.Errorf("login with the old password: %d", resp.StatusCode)
	}
	s.doLogin(t, "ivy@example.com", "a brand new password")
	if strings.Contains(s.logs.String(), "a brand new password") {
		t.Error("the new password reached the logs")
	}
}

// TestChangePasswordAsksTheSecondFactor: a user with TOTP changes the
// password only with a code or a recovery code as well (a phished password
// and a copied access token do not take the account over), and the new
// session ends when the old one would have: a chain of password changes
// never outlives the sign-in it came from.
func TestChangePasswordAsksTheSecondFactor(t *testing.T) {
	env := testenv.New(t)
	s, _, secret, recovery := newEnrolled(t, env, "ivy@example.com", "ivy's password")
	s.clock.Advance(30 * time.Second)
	signedIn := s.readTokens(t, s.finishMFA(t, s.mfaChallenge(t, "ivy@example.com", "ivy's password"), s.code(t, secret), ""))
	_, actx := s.authorize(t, signedIn.Access)
	sessionEnds := s.cookieEnds(t, signedIn.Resp)

	change := func(ctx map[string]any, current, next string, answer map[string]string) apigw.Response {
		body := map[string]string{"current_password": current, "new_password": next}
		maps.Copy(body, answer)
		return call(t, s.login, totpRequest(t, "POST /auth/password", ctx, body))
	}
	if resp := change(actx, "ivy's password", "password two", nil); resp.StatusCode != 400 || !strings.Contains(resp.Body, "second factor") {
		t.Fatalf("a password change without the second factor: %d %s, want 400 asking for it", resp.StatusCode, resp.Body)
	}
	for _, bad := range []map[string]string{{"code": "12345"}, {"code": "123456", "recovery_code": recovery[0]}, {"recovery_code": "not a code"}} {
		if resp := change(actx, "ivy's password", "password two", bad); resp.StatusCode != 400 {
			t.Errorf("a password change with %v: %d %s, want 400", bad, resp.StatusCode, resp.Body)
		}
	}
	s.clock.Advance(30 * time.Second)
	if resp := change(actx, "ivy's password", "password two", map[string]string{"code": wrongCode(s.code(t, secret))}); resp.StatusCode != 401 {
		t.Fatalf("a password change with a wrong code: %d %s, want 401", resp.StatusCode, resp.Body)
	}
	s.mfaChallenge(t, "ivy@example.com", "ivy's password") // the password is unchanged

	// Six days on, with a code: the new session keeps the old one's end.
	s.clock.Advance(6 * 24 * time.Hour)
	resp := change(actx, "ivy's password", "password two", map[string]string{"code": s.code(t, secret)})
	if resp.StatusCode != 200 {
		t.Fatalf("a password change with a code: %d %s", resp.StatusCode, resp.Body)
	}
	next := s.readTokens(t, resp)
	ok, nctx := s.authorize(t, next.Access)
	if !ok {
		t.Fatal("the new session's token is denied")
	}
	if got := s.cookieEnds(t, resp); got.Sub(sessionEnds).Abs() > 2*time.Second {
		t.Errorf("the new session ends %v, want the old one's end %v", got, sessionEnds)
	}
	// A second change, with a recovery code, half a day later: still the
	// same end.
	s.clock.Advance(12 * time.Hour)
	resp = change(nctx, "password two", "password three", map[string]string{"recovery_code": recovery[0]})
	if resp.StatusCode != 200 {
		t.Fatalf("a password change with a recovery code: %d %s", resp.StatusCode, resp.Body)
	}
	last := s.readTokens(t, resp)
	if got := s.cookieEnds(t, resp); got.Sub(sessionEnds).Abs() > 2*time.Second {
		t.Errorf("the session of a second change ends %v, want the first sign-in's session end %v", got, sessionEnds)
	}
	if resp := change(nctx, "password three", "password four", map[string]string{"recovery_code": recovery[0]}); resp.StatusCode != 401 && resp.StatusCode != 400 {
		t.Errorf("a used recovery code (and an ended session): %d, want refused", resp.StatusCode)
	}
	s.clock.Advance(sessionEnds.Sub(s.clock.Now()) + time.Minute)
	if resp := s.refreshWith(t, last.Refresh); resp.StatusCode != 401 {
		t.Errorf("the session of two password changes, past the first sign-in's session end: refresh %d, want 401", resp.StatusCode)
	}
}

// cookieEnds is when the refresh cookie of resp expires (its Max-Age from
// now: the handler computes it on the real clock): the session's end, on
// the service's clock.
func (s *service) cookieEnds(t *testing.T, resp apigw.Response) time.Time {
	t.Helper()
	name := cmp.Or(s.env.Getenv("REFRESH_COOKIE_NAME"), "__Secure-refresh_token")
	for _, c := range resp.Cookies {
		if !strings.HasPrefix(c, name+"=") {
			continue
		}
		for _, attr := range strings.Split(c, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(attr), "Max-Age="); ok {
				n, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("cookie %q: %v", c, err)
				}
				return time.Now().Add(time.Duration(n) * time.Second) // the handler's real clock
			}
		}
	}
	t.Fatalf("no refresh cookie with a Max-Age in %v", resp.Cookies)
	return time.Time{}
}

// TestStepUpRoutes: STEP_UP_ROUTES makes the authorizer deny a good
// token on a route whose sign-in it does not meet: a second factor (acr
// mfa), a recent sign-in (max_age); other routes are not affected.
func TestStepUpRoutes(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "ivy@example.com", "ivy's password")
	env.Set("STEP_UP_ROUTES", `{"POST /payouts": {"acr": "mfa"}, "DELETE /account": {"max_age": 300}}`)
	s := newService(t, env)
	decide := func(access, route string) bool {
		t.Helper()
		ev := strings.ReplaceAll(string(fixture(t, "authorizer", "REPLACE_WITH_ACCESS_TOKEN", access)), `"GET /me"`, `"`+route+`"`)
		out, err := s.authorizer(context.Background(), []byte(ev))
		if err != nil {
			t.Fatal(err)
		}
		return out.(events.APIGatewayV2CustomAuthorizerSimpleResponse).IsAuthorized
	}
	pwd, actx := s.signedIn(t, "ivy@example.com", "ivy's password")
	if !decide(pwd.Access, "GET /me") || !decide(pwd.Access, "DELETE /account") {
		t.Fatal("a fresh password sign-in is denied on a route without a rule, or one with max_age 300")
	}
	if decide(pwd.Access, "POST /payouts") {
		t.Error("a password-only token allowed on a route that requires mfa")
	}
	secret, _ := s.enrol(t, actx)
	s.clock.Advance(30 * time.Second)
	mfa := s.readTokens(t, s.finishMFA(t, s.mfaChallenge(t, "ivy@example.com", "ivy's password"), s.code(t, secret), ""))
	if !decide(mfa.Access, "POST /payouts") {
		t.Error("a token with amr mfa denied on the mfa route")
	}
	s.clock.Advance(5*time.Minute + time.Second)
	if decide(mfa.Access, "DELETE /account") {
		t.Error("a sign-in older than max_age allowed")
	}
	if !decide(mfa.Access, "GET /me") {
		t.Error("the same token denied on a route without a rule")
	}
	if n := s.metrics.Count("AuthorizerDecision", map[string]string{"Reason": "step_up"}); n < 2 {
		t.Errorf("step_up denials counted %v times, want 2", n)
	}
	// The route an API matched may not be the rule's key: an ANY route is
	// held to the rule of the request's method on its path; $default and
	// greedy routes could carry any path, so with rules set they deny.
	decideMethod := func(access, route, method string) bool {
		t.Helper()
		ev := strings.ReplaceAll(string(fixture(t, "authorizer", "REPLACE_WITH_ACCESS_TOKEN", access)), `"GET /me"`, `"`+route+`"`)
		ev = strings.Replace(ev, `"method": "GET"`, `"method": "`+method+`"`, 1)
		out, err := s.authorizer(context.Background(), []byte(ev))
		if err != nil {
			t.Fatal(err)
		}
		return out.(events.APIGatewayV2CustomAuthorizerSimpleResponse).IsAuthorized
	}
	for _, tc := range []struct {
		route, method string
		pwdAllowed    bool
	}{
		{"ANY /payouts", "POST", false},
		{"ANY /payouts", "GET", true},
		{"ANY /me", "GET", true},
		{"$default", "GET", false},
		{"ANY /{proxy+}", "GET", false},
		{"GET /api/{proxy+}", "GET", false},
	} {
		if got := decideMethod(pwd.Access, tc.route, tc.method); got != tc.pwdAllowed {
			t.Errorf("a password-only token on route %q, method %s: allowed %v, want %v", tc.route, tc.method, got, tc.pwdAllowed)
		}
	}
	if !decideMethod(mfa.Access, "ANY /payouts", "POST") {
		t.Error("an mfa token denied on ANY /payouts for POST")
	}

	// A REST API event: its allow would cover the whole stage, so no rule
	// could hold there; with rules set it is denied, whatever the token.
	rest, _ := json.Marshal(map[string]any{"type": "TOKEN", "authorizationToken": "Bearer " + mfa.Access,
		"methodArn": "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/me"})
	out, err := s.authorizer(context.Background(), rest)
	if p, ok := out.(events.APIGatewayCustomAuthorizerResponse); err != nil || !ok || p.PolicyDocument.Statement[0].Effect != "Deny" {
		t.Errorf("a REST event with step-up rules set: %+v %v, want a Deny policy", out, err)
	}
}

// TestTOTPConcurrentAnswers: one code sent on two challenges at once, and
// two valid codes (this step's and the next's) sent on one challenge at
// once: exactly one sign-in each time (the stored step and the challenge
// are used by conditional writes, not by a read before them).
func TestTOTPConcurrentAnswers(t *testing.T) {
	env := testenv.New(t)
	s, _, secret, _ := newEnrolled(t, env, "ivy@example.com", "ivy's password")
	race := func(what string, answers [2][2]string) {
		t.Helper()
		var wg sync.WaitGroup
		var ok, failed atomic.Int32
		for _, a := range answers {
			req := mfaEvent(t, a[0], a[1], "")
			wg.Go(func() {
				resp, err := s.login(context.Background(), req)
				switch {
				case err != nil || resp.StatusCode >= 500:
					failed.Add(1)
				case resp.StatusCode == 200:
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 || failed.Load() != 0 {
			t.Errorf("%s: %d sign-ins and %d errors, want 1 and 0", what, ok.Load(), failed.Load())
		}
	}
	s.clock.Advance(30 * time.Second)
	code := s.code(t, secret)
	c1, c2 := s.mfaChallenge(t, "ivy@example.com", "ivy's password"), s.mfaChallenge(t, "ivy@example.com", "ivy's password")
	race("one code on two challenges", [2][2]string{{c1, code}, {c2, code}})

	s.clock.Advance(30 * time.Second)
	now, next := s.code(t, secret), ""
	s.clock.Advance(30 * time.Second)
	next = s.code(t, secret)
	s.clock.Advance(-30 * time.Second)
	c3 := s.mfaChallenge(t, "ivy@example.com", "ivy's password")
	race("two codes on one challenge", [2][2]string{{c3, now}, {c3, next}})
}

// TestDPoPAtTheSecondStep: with DPOP_MODE required, the second step of a
// login needs a DPoP proof as the first one does, and binds the session to
// its key (token_type DPoP, cnf.jkt).
func TestDPoPAtTheSecondStep(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "ivy@example.com", "ivy's password")
	_, authCtx := newService(t, env).signedIn(t, "ivy@example.com", "ivy's password")
	secret, _ := newService(t, env).enrol(t, authCtx)
	env.Set("DPOP_MODE", "required")
	s := newService(t, env)
	c := newDPoPClient(t)
	resp := call(t, s.login, withProof(loginBody(t, "ivy@example.com", "ivy's password"), c.proof(t, "POST", loginURL, s.clock.Now(), nil)))
	var body apigw.ErrorBody
	if json.Unmarshal([]byte(resp.Body), &body); resp.StatusCode != 403 || body.MFAToken == "" {
		t.Fatalf("password step: %d %s, want 403 mfa_required", resp.StatusCode, resp.Body)
	}
	s.clock.Advance(30 * time.Second)
	wantRefused(t, "second step without a proof", call(t, s.login, mfaEvent(t, body.MFAToken, s.code(t, secret), "")), 400, "invalid_dpop_proof")
	mfaURL := strings.TrimSuffix(loginURL, "/auth/login") + "/auth/login/mfa"
	wantTokens(t, "second step with a proof", call(t, s.login,
		withProof(mfaEvent(t, body.MFAToken, s.code(t, secret), ""), c.proof(t, "POST", mfaURL, s.clock.Now(), nil))), "DPoP", c.JKT())
}

// TestSecondStepKeepsTheFirstStepsKey: with DPOP_MODE optional, the second
// step of a login must come with a proof of the password step's key, or
// with none when the password step had none (RFC 9449 5). A refused
// attempt (no proof, another key's proof, a proof after a bearer first
// step) is 400 invalid_dpop_proof and uses up neither the challenge nor
// the code: the holder of the right key then finishes with them.
func TestSecondStepKeepsTheFirstStepsKey(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "ivy@example.com", "ivy's password")
	_, authCtx := newService(t, env).signedIn(t, "ivy@example.com", "ivy's password")
	secret, _ := newService(t, env).enrol(t, authCtx)
	s := newService(t, env)
	mfaURL := strings.TrimSuffix(loginURL, "/auth/login") + "/auth/login/mfa"
	first, other := newDPoPClient(t), newDPoPClient(t)
	challenge := func(req apigw.Request) string {
		t.Helper()
		resp := call(t, s.login, req)
		var body apigw.ErrorBody
		if json.Unmarshal([]byte(resp.Body), &body); resp.StatusCode != 403 || body.MFAToken == "" {
			t.Fatalf("password step: %d %s, want 403 mfa_required", resp.StatusCode, resp.Body)
		}
		return body.MFAToken
	}

	t.Run("password step with a proof", func(t *testing.T) {
		tok := challenge(withProof(loginBody(t, "ivy@example.com", "ivy's password"), first.proof(t, "POST", loginURL, s.clock.Now(), nil)))
		s.clock.Advance(30 * time.Second)
		code := s.code(t, secret)
		wantRefused(t, "second step without a proof", call(t, s.login, mfaEvent(t, tok, code, "")), 400, "invalid_dpop_proof")
		wantRefused(t, "second step with another key's proof", call(t, s.login,
			withProof(mfaEvent(t, tok, code, ""), other.proof(t, "POST", mfaURL, s.clock.Now(), nil))), 400, "invalid_dpop_proof")
		wantTokens(t, "second step with the first step's key", call(t, s.login,
			withProof(mfaEvent(t, tok, code, ""), first.proof(t, "POST", mfaURL, s.clock.Now(), nil))), "DPoP", first.JKT())
	})
	t.Run("password step without a proof", func(t *testing.T) {
		tok := challenge(loginEvent(t, "ivy@example.com", "ivy's password"))
		s.clock.Advance(30 * time.Second)
		code := s.code(t, secret)
		wantRefused(t, "second step with a proof", call(t, s.login,
			withProof(mfaEvent(t, tok, code, ""), other.proof(t, "POST", mfaURL, s.clock.Now(), nil))), 400, "invalid_dpop_proof")
		wantTokens(t, "second step without a proof", call(t, s.login, mfaEvent(t, tok, code, "")), "Bearer", "")
	})
}

// TestMFAChallengeEndsWithTheCutoff: a second-factor challenge issued
// before a revocation cutoff of its user (a password change, logout-all,
// the operator's revoke function) cannot be finished, even with the
// right code: the same 401 invalid_mfa as an unknown or expired
// challenge, and nothing written (the challenge, the code's time step and
// the code throttle are as they were). A challenge issued after the
// cutoff finishes with that very code.
func TestMFAChallengeEndsWithTheCutoff(t *testing.T) {
	env := testenv.New(t)
	s := newService(t, env)
	ctx := context.Background()
	unknown := s.finishMFA(t, strings.Repeat("A", 43), "123456", "")
	for _, tc := range []struct {
		name string
		cut  func(t *testing.T, authCtx map[string]any, recovery []string) string // revokes; returns the password after it
	}{
		{"password change", func(t *testing.T, authCtx map[string]any, recovery []string) string {
			req := totpRequest(t, "POST /auth/password", authCtx, map[string]string{"current_password": "the password", "new_password": "a brand new password",
				"recovery_code": recovery[0]}) // the second factor: a password change asks it
			if resp := call(t, s.login, req); resp.StatusCode != 200 {
				t.Fatalf("change password: %d %s", resp.StatusCode, resp.Body)
			}
			return "a brand new password"
		}},
		{"logout-all", func(t *testing.T, authCtx map[string]any, _ []string) string {
			if resp := call(t, s.logoutAll, protected(t, "logout-all", authCtx)); resp.StatusCode != 204 {
				t.Fatalf("logout-all: %d %s", resp.StatusCode, resp.Body)
			}
			return "the password"
		}},
		{"operator revokes the user", func(t *testing.T, authCtx map[string]any, _ []string) string {
			ev := fixture(t, "revoke-user", `"user_id": "4a6f2c1e-8b3d-4e9a-b7c5-1d2e3f4a5b6c"`, `"user_id": "`+authCtx["sub"].(string)+`"`)
			if _, err := s.revoke(ctx, ev); err != nil {
				t.Fatalf("revoke the user: %v", err)
			}
			return "the password"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.ReplaceAll(tc.name, " ", "-") + "@example.com"
			env.CreateUser(t, name, "the password")
			_, authCtx := s.signedIn(t, name, "the password")
			secret, recovery := s.enrol(t, authCtx)
			sub := authCtx["sub"].(string)
			s.clock.Advance(30 * time.Second) // past the confirming code's step
			challenge := s.mfaChallenge(t, name, "the password")
			s.clock.Advance(time.Second)
			pw := tc.cut(t, authCtx, recovery)
			s.clock.Advance(time.Second)

			stored := func() map[string]string { // what finishing could write
				get := func(table, key, pk string) string {
					out, err := env.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, ConsistentRead: aws.Bool(true),
						Key: map[string]types.AttributeValue{key: &types.AttributeValueMemberS{Value: pk}}})
					if err != nil {
						t.Fatal(err)
					}
					b, _ := json.Marshal(out.Item)
					return string(b)
				}
				h := sha256.Sum256([]byte("mfa-challenge\x00" + challenge))
				return map[string]string{
					"challenge": get(env.Tables.MFA, "pk", "chal#"+hex.EncodeToString(h[:])),
					"factor":    get(env.Tables.MFA, "pk", "totp#"+sub),
					"throttle":  get(env.Tables.LoginThrottle, "username", "totp#"+sub),
				}
			}
			before := stored()
			if before["challenge"] == "null" {
				t.Fatal("the challenge is not in the MFA table: this test reads the wrong key")
			}
			code := s.code(t, secret)
			resp := s.finishMFA(t, challenge, code, "")
			if resp.StatusCode != 401 || resp.Body != unknown.Body {
				t.Fatalf("a challenge issued before the cutoff, with the right code: %d %s\nwant 401 %s", resp.StatusCode, resp.Body, unknown.Body)
			}
			for k, after := range stored() {
				if after != before[k] {
					t.Errorf("the refused answer wrote the %s:\nbefore %s\nafter  %s", k, before[k], after)
				}
			}
			// After the cutoff: a new challenge, the same code (not used up).
			s.clock.Advance(time.Millisecond)
			s.readTokens(t, s.finishMFA(t, s.mfaChallenge(t, name, pw), code, ""))
		})
	}
}

// TestTOTPCodesCappedOverDays: a patient attacker with the password who
// guesses one code an hour is never held by the short lockouts (at most
// LOGIN_LOCKOUT_MAX); after TOTP_MAX_FAILURES wrong answers in a row even
// the right code is refused unchecked, 403 mfa_locked, a day later too,
// until a recovery code signs in: it clears the count, and codes work
// again.
func TestTOTPCodesCappedOverDays(t *testing.T) {
	env := testenv.New(t)
	env.Set("TOTP_MAX_FAILURES", "6")
	s, _, secret, recovery := newEnrolled(t, env, "ivy@example.com", "ivy's password")
	for i := range 6 {
		s.clock.Advance(time.Hour)
		resp := s.finishMFA(t, s.mfaChallenge(t, "ivy@example.com", "ivy's password"), wrongCode(s.code(t, secret)), "")
		if resp.StatusCode != 401 || errorCode(t, resp) != "invalid_mfa" {
			t.Fatalf("wrong code %d, an hour after the one before: %d %s, want 401 invalid_mfa", i+1, resp.StatusCode, resp.Body)
		}
	}
	for _, wait := range []time.Duration{time.Hour, 23 * time.Hour} {
		s.clock.Advance(wait)
		resp := s.finishMFA(t, s.mfaChallenge(t, "ivy@example.com", "ivy's password"), s.code(t, secret), "")
		if resp.StatusCode != 403 || errorCode(t, resp) != "mfa_locked" {
			t.Fatalf("the right code %s after 6 wrong ones: %d %s, want 403 mfa_locked", wait, resp.StatusCode, resp.Body)
		}
	}
	s.clock.Advance(time.Hour) // past the short lockout the refusal counted as
	s.readTokens(t, s.finishMFA(t, s.mfaChallenge(t, "ivy@example.com", "ivy's password"), "", recovery[0]))
	s.clock.Advance(30 * time.Second)
	s.readTokens(t, s.finishMFA(t, s.mfaChallenge(t, "ivy@example.com", "ivy's password"), s.code(t, secret), ""))
	if !strings.Contains(s.logs.String(), "TOTP codes refused from now on") {
		t.Error("reaching the cap left no log line")
	}
}
