package app_test

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
)

// TestNoSecretInAnyLogLine walks every path of the service that logs,
// failures included, with the logger at debug level, and fails if any log
// line holds a password, an access token (or its signature), a refresh
// token (or its secret part) or a cookie value. Paths: a wrong password, a
// password typed as the username, logins with the token in a cookie and in
// the body, an allow and denials (forged, revoked) at the authorizer, a
// rotation, a grace-window conflict, a cross-site refresh, reuse revoking a
// session, logout, logout-all, a console revoke, the token endpoint's form
// dialect, RFC 7009 revocation, RFC 7662 introspection, and a DynamoDB
// outage. The metric lines the same flow writes (they go to the same log
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

	db.Set(testenv.Fault{Mode: testenv.Error})
	want503(t, "login during the outage", callBefore(t, s.login, loginEvent(t, "quentin", pw)))
	want503(t, "refresh during the outage", callBefore(t, s.refresh, s.refreshRequest(t, third.Refresh)))
	db.Reset()

	logs := s.logs.String()
	// The flow did log what it should; otherwise this test would prove nothing.
	for _, want := range []string{`"login failed"`, `"refresh token reuse detected: revoking session"`, `"deny"`, `"dependency unavailable"`,
		`"logout-all"`, `"audit: revoked"`, `"access token revoked"`, `"introspection"`, `"introspection: inactive"`,
		`"revocation: not a live token of ours, nothing to do"`} {
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
