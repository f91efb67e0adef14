package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/shared/dynamo"
)

// testTOTP: a user of their own adds an authenticator app on the demo
// page (the QR code shows under the page's CSP), confirms it with a code
// computed here from the secret the page shows (recovery codes appear),
// signs out, signs in with the password and answers the second-factor
// challenge with the next code (the access token then says amr pwd otp
// mfa), and changes the password (a new session; the old password is
// refused).
func (e *browserEnv) testTOTP(t *testing.T) {
	const user, pw, newPW = "totp-user@example.com", "totp user's password", "totp user's new password"
	_, db := localaws.Clients(e.dev.Vars["AWS_ENDPOINT_URL_KMS"], e.dev.Vars["AWS_ENDPOINT_URL_DYNAMODB"])
	if _, err := localaws.PutUser(context.Background(), dynamo.New(db, dynamo.Tables{Users: e.dev.Vars["USERS_TABLE"]}),
		localaws.User{Username: user, Password: pw}); err != nil {
		t.Fatal(err)
	}
	e.secret(pw)
	e.secret(newPW)
	b := e.device(t, "")
	b.openDemo("")
	signIn := func(password string) {
		b.do(chromedp.SetValue(chromedp.ID("username"), user), chromedp.SetValue(chromedp.ID("password"), password),
			chromedp.Click(chromedp.ID("login")))
	}
	signIn(pw)
	b.waitUntil("signed in", 10*time.Second, b.signedIn)
	b.waitUntil("no factor yet", 10*time.Second, func() bool { return b.js(`document.getElementById('totp-status').dataset.state`) == "none" })

	b.click("totp-enrol")
	b.waitUntil("the secret shows", 10*time.Second, func() bool { return len(b.text("totp-secret")) == 32 })
	secret := b.text("totp-secret")
	e.secret(secret)
	b.waitUntil("the QR code loads", 5*time.Second, func() bool {
		return b.js(`document.getElementById('totp-qr').complete && document.getElementById('totp-qr').naturalWidth`) == "200"
	})
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.SetValue(chromedp.ID("totp-code"), code), chromedp.Click(chromedp.ID("totp-confirm")))
	b.waitUntil("recovery codes shown", 10*time.Second, func() bool {
		return b.js(`document.getElementById('totp-recovery-codes').children.length`) == "10"
	})
	recovery := b.js(`document.getElementById('totp-recovery-codes').children[0].textContent`)
	e.secret(recovery)
	b.waitUntil("the factor is active", 10*time.Second, func() bool { return b.js(`document.getElementById('totp-status').dataset.state`) == "active" })

	b.click("logout")
	b.waitUntil("signed out", 10*time.Second, b.signedOut)
	signIn(pw)
	b.waitUntil("the challenge form", 10*time.Second, func() bool { return b.js(`document.getElementById('mfa-form').hidden`) == "false" })
	if b.signedIn() {
		t.Fatal("signed in by the password alone")
	}
	// The code of the next time step: the one that confirmed the
	// enrolment is used (RFC 6238 5.2), and one step ahead is accepted.
	next, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.SetValue(chromedp.ID("mfa-code"), next), chromedp.Click(chromedp.ID("mfa-submit")))
	b.waitUntil("signed in with the second factor", 10*time.Second, b.signedIn)
	b.click("whoami")
	b.waitUntil("who am I answers", 10*time.Second, func() bool { return strings.Contains(b.text("whoami-out"), "amr") })
	if amr := b.js(`JSON.stringify(JSON.parse(document.getElementById('whoami-out').textContent).amr)`); amr != `["pwd","otp","mfa"]` {
		t.Errorf("GET /me after the second factor: amr %s, want [\"pwd\",\"otp\",\"mfa\"]", amr)
	}

	// A password change asks the second factor too: refused without it,
	// done with a recovery code (the codes of this step and the next are
	// used by now).
	before := b.text("session-id")
	b.do(chromedp.SetValue(chromedp.ID("current-password"), pw), chromedp.SetValue(chromedp.ID("new-password"), newPW),
		chromedp.Click(chromedp.ID("change-password")))
	b.waitUntil("the second factor is asked", 10*time.Second, func() bool { return strings.Contains(b.text("password-error"), "second factor") })
	b.do(chromedp.SetValue(chromedp.ID("current-password"), pw), chromedp.SetValue(chromedp.ID("new-password"), newPW),
		chromedp.SetValue(chromedp.ID("password-code"), recovery), chromedp.Click(chromedp.ID("change-password")))
	b.waitUntil("a new session after the password change", 10*time.Second, func() bool {
		return b.signedIn() && b.text("session-id") != before && b.text("session-id") != ""
	})
	if got := b.text("password-error"); got != "" {
		t.Errorf("password change error: %q", got)
	}
	if st := e.apiLogin(t, user, pw); st != 401 {
		t.Errorf("the old password after the change: %d, want 401", st)
	}
	if st := e.apiLogin(t, user, newPW); st != 403 {
		t.Errorf("the new password: %d, want 403 mfa_required (the factor stays)", st)
	}
}

// apiLogin posts a password login and returns its status.
func (e *browserEnv) apiLogin(t *testing.T, user, pw string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	resp, err := http.Post(e.api+"/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
