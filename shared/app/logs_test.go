package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
)

// TestNoSecretInAnyLogLine walks every path of the service that logs,
// failures included, with the logger at debug level, and fails if any log
// line holds a password, an access token (or its signature), a refresh
// token (or its secret part) or a cookie value. Paths: a wrong password, a
// password typed as the username, logins with the token in a cookie and in
// the body, an allow and denials (forged, revoked) at the authorizer, a
// rotation, a grace-window conflict, a cross-site refresh, reuse revoking a
// session, logout, logout-all, a console revoke, the token endpoint's form
// dialect, RFC 7009 revocation, RFC 7662 introspection, passkeys, a TOTP
// enrolment (secret, otpauth URI, recovery codes) and second-factor login
// (mfa_token, codes), a password change (current and new password), and a
// DynamoDB outage. The metric lines the same flow writes (they go to the same log
// group) are scanned for the same secrets.
func TestNoSecretInAnyLogLine(t *testing.T) {
	env := testenv.New(t)
	const pw = "Hunter2-correct-horse"
	env.CreateUser(t, "quentin", pw)
	db := testenv.NewFaultProxy(t, os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", db.URL)
	s := newService(t, env)

	secrets := map[string]string{"password": pw, "password in lower case": strings.ToLower(pw)}
	keep := func(name string, tok tokens) {
		secrets[name+" access token"] = tok.Access
		secrets[name+" access token signature"] = tok.Access[strings.LastIndexByte(tok.Access, '.')+1:]
		if tok.Refresh != "" {
			secrets[name+" refresh token"] = tok.Refresh
			secrets[name+" refresh secret"] = tok.Refresh[33:]
		}
		for _, c := range tok.Resp.Cookies {
			v, _, _ := strings.Cut(strings.SplitN(c, "=", 2)[1], ";")
			if v != "" {
				secrets[name+" cookie value"] = v
			}
		}
	}

	call(t, s.login, loginEvent(t, "quentin", "a wrong "+pw))
	secrets["wrong password"] = "a wrong " + pw
	call(t, s.login, loginEvent(t, pw, pw)) // the password typed in the username field

	first := s.doLogin(t, "quentin", pw)
	keep("first", first)
	req := loginEvent(t, "quentin", pw)
	delete(req.Headers, "origin")
	req.Body = `{"username":"quentin","password":"` + pw + `","refresh_token_in_body":true}`
	resp := call(t, s.login, req)
	var inBody struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	json.Unmarshal([]byte(resp.Body), &inBody)
	keep("body", tokens{Access: inBody.AccessToken, Refresh: inBody.RefreshToken})

	s.authorize(t, first.Access)
	s.authorize(t, first.Access[:len(first.Access)-2]+"AA") // forged signature

	resp = s.refreshWith(t, first.Refresh)
	second := s.readTokens(t, resp)
	keep("second", second)
	s.refreshWith(t, first.Refresh) // within the grace window: the same successor
	cross := httpEvent(t, "refresh", "REPLACE_WITH_REFRESH_TOKEN", second.Refresh)
	cross.Headers["origin"] = "https://evil.example"
	call(t, s.refresh, cross) // 403
	s.clock.Advance(time.Minute)
	s.refreshWith(t, first.Refresh) // reuse: the session is revoked
	s.authorize(t, second.Access)   // revoked

	s.logoutWith(t, inBody.RefreshToken)
	third := s.doLogin(t, "quentin", pw)
	keep("third", third)
	_, authCtx := s.authorize(t, third.Access)
	call(t, s.logoutAll, protected(t, "logout-all", authCtx))
	s.authorize(t, third.Access)
	if _, err := s.revoke(context.Background(), []byte(`{"jti":"`+authCtx["jti"].(string)+`","reason":"test"}`)); err != nil {
		t.Fatal(err)
	}

	// The OAuth endpoints: a form refresh, a refused one, introspection
	// (active, inactive), RFC 7009 revocations of an access token, a
	// refresh token and garbage.
	s.clock.Advance(time.Second) // after logout-all
	access, refresh := s.loginInBody(t, "quentin", pw)
	keep("oauth login", tokens{Access: access, Refresh: refresh})
	granted := tokenBody(t, s.grant(t, refresh))
	keep("form refresh", tokens{Access: granted.AccessToken, Refresh: granted.RefreshToken})
	s.grant(t, refresh[:33]+flipChar(refresh[33:])) // invalid_grant
	s.introspection(t, granted.AccessToken)
	for _, tok := range []string{granted.AccessToken, granted.RefreshToken, "garbage-token"} {
		call(t, s.revocation, formEvent(t, "token-revocation", url.Values{"token": {tok}}))
	}
	s.introspection(t, granted.AccessToken) // inactive now

	// Passkeys: a registration, a sign-in (its tokens), a replayed
	// assertion and a counter that went back (both refused and logged).
	s.clock.Advance(time.Second)
	pk := &passkeyRig{s: s, authn: testenv.NewAuthenticator("app.test.example", passkeyOrigin)}
	pk.login = s.doLogin(t, "quentin", pw)
	keep("passkey rig login", pk.login)
	_, pk.authCtx = s.authorize(t, pk.login.Access)
	if resp := pk.register(t, testenv.Ceremony{}); resp.StatusCode != 201 {
		t.Fatalf("passkey registration: %d %s", resp.StatusCode, resp.Body)
	}
	assertion, err := pk.authn.Get(pk.signInOptions(t), testenv.Ceremony{})
	if err != nil {
		t.Fatal(err)
	}
	keep("passkey", s.readTokens(t, pk.signInWith(t, assertion)))
	pk.signInWith(t, assertion) // replayed
	zero := uint32(0)
	pk.signIn(t, testenv.Ceremony{Count: &zero})

	// TOTP: an enrolment (its secret and otpauth URI), a wrong first code,
	// the confirm (the recovery codes), a password login answered by a
	// challenge (the mfa_token), a wrong code, the finish with a recovery
	// code; then a password change: a wrong current password, and the
	// change to a new one.
	s.clock.Advance(time.Second)
	_, mfaCtx := s.signedIn(t, "quentin", pw)
	resp = call(t, s.totp, totpRequest(t, "POST /auth/mfa/totp", mfaCtx, map[string]string{"label": "quentin"}))
	var enrolment apigw.TOTPEnrolment
	if json.Unmarshal([]byte(resp.Body), &enrolment); resp.StatusCode != 201 {
		t.Fatalf("TOTP enrolment: %d %s", resp.StatusCode, resp.Body)
	}
	secrets["TOTP secret"], secrets["TOTP secret in lower case"] = enrolment.Secret, strings.ToLower(enrolment.Secret)
	secrets["otpauth URI"] = enrolment.OTPAuthURI
	code := s.code(t, enrolment.Secret)
	call(t, s.totp, totpRequest(t, "POST /auth/mfa/totp/confirm", mfaCtx, map[string]string{"code": wrongCode(code)}))
	resp = call(t, s.totp, totpRequest(t, "POST /auth/mfa/totp/confirm", mfaCtx, map[string]string{"code": code}))
	var recovery apigw.RecoveryCodes
	if json.Unmarshal([]byte(resp.Body), &recovery); resp.StatusCode != 200 || len(recovery.RecoveryCodes) == 0 {
		t.Fatalf("TOTP confirm: %d %s", resp.StatusCode, resp.Body)
	}
	for i, rc := range recovery.RecoveryCodes {
		secrets[fmt.Sprintf("recovery code %d", i)] = rc
		secrets[fmt.Sprintf("recovery code %d normalised", i)] = strings.ToLower(strings.ReplaceAll(rc, "-", ""))
	}
	challenge := s.mfaChallenge(t, "quentin", pw)
	secrets["mfa_token"] = challenge
	s.finishMFA(t, challenge, wrongCode(s.code(t, enrolment.Secret)), "")
	mfaTokens := s.readTokens(t, s.finishMFA(t, challenge, "", recovery.RecoveryCodes[0]))
	keep("second factor", mfaTokens)
	_, mfaCtx = s.authorize(t, mfaTokens.Access)
	const newPW = "Correct-horse-battery-staple-2"
	secrets["wrong current password"], secrets["new password"] = "not "+pw, newPW
	for _, body := range []map[string]string{{"current_password": "not " + pw, "new_password": newPW}, {"current_password": pw, "new_password": newPW, "recovery_code": recovery.RecoveryCodes[1]}} {
		resp = call(t, s.login, totpRequest(t, "POST /auth/password", mfaCtx, body))
	}
	if resp.StatusCode != 200 {
		t.Fatalf("password change: %d %s", resp.StatusCode, resp.Body)
	}
	keep("password change", s.readTokens(t, resp))

	db.Set(testenv.Fault{Mode: testenv.Error})
	want503(t, "login during the outage", callBefore(t, s.login, loginEvent(t, "quentin", pw)))
	want503(t, "refresh during the outage", callBefore(t, s.refresh, s.refreshRequest(t, third.Refresh)))
	db.Reset()

	logs := s.logs.String()
	// The flow did log what it should; otherwise this test would prove nothing.
	for _, want := range []string{`"login failed"`, `"refresh token reuse detected: revoking session"`, `"deny"`, `"dependency unavailable"`,
		`"logout-all"`, `"audit: revoked"`, `"access token revoked"`, `"introspection"`, `"introspection: inactive"`,
		`"revocation: not a live token of ours, nothing to do"`, `"TOTP enrolment confirmed"`, `"login: second factor required"`,
		`"second factor failed"`, `"password changed; every other session ended"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("no %s line in the logs", want)
		}
	}
	// Metric lines go to the same log group: they are scanned too.
	metricLines := s.metrics.Raw()
	if !strings.Contains(metricLines, `"Reason":"revoked"`) || !strings.Contains(metricLines, `"Outcome":"reuse_detected"`) {
		t.Errorf("the flow wrote no metric line for the revoked token or the reuse:\n%s", metricLines)
	}
	for name, secret := range secrets {
		if secret == "" {
			t.Errorf("%s: empty, the flow went wrong", name)
			continue
		}
		for i, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, secret) {
				t.Errorf("log line %d holds the %s: %s", i+1, name, line)
			}
		}
		for _, line := range strings.Split(metricLines, "\n") {
			if strings.Contains(line, secret) {
				t.Errorf("a metric line holds the %s: %s", name, line)
			}
		}
	}
}
