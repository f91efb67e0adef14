package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/testenv"
)

// TestBrowserPasskeys: the demo page's passkeys in headless Chromium with
// the DevTools virtual authenticator (a CTAP2 platform authenticator with
// resident keys and user verification), against one scripts/dev served as
// http://localhost:PORT (a browser takes no IP address as an RP ID): sign
// in with the password, add a passkey, sign out, sign in with the passkey
// button and no username (the autofill off), sign out, sign in through the
// username field's autofill (conditional mediation), remove the passkey,
// which then signs nobody in.
func TestBrowserPasskeys(t *testing.T) {
	chrome := chromiumPath(t)
	e := &browserEnv{}
	e.dev = testenv.StartDev(t)
	_, apiPort, _ := net.SplitHostPort(strings.TrimPrefix(e.dev.API, "http://"))
	e.api = "http://localhost:" + apiPort

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1100, 900))...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if _, err := chromedp.CallBrowser(browser, browserVersion, cdp.Empty{}); err != nil {
		t.Fatalf("start %s: %v", chrome, err)
	}
	e.browser = browser

	b := e.device(t, "")
	if err := call(b.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	added, err := chromedp.Call(b.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
			IsUserVerified: true, AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	creds := func() []*webauthn.Credential {
		t.Helper()
		got, err := chromedp.Call(b.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams(added))
		if err != nil {
			t.Fatal(err)
		}
		return got.Credentials
	}
	passkeyRows := func() string { return b.js(`document.querySelectorAll('#passkeys tr.passkey-row').length`) }

	// logged counts the page's log entries that contain text: a wait on a
	// new entry, not on one an earlier step wrote.
	logged := func(text string) int {
		n := 0
		fmt.Sscan(b.js(`[...document.querySelectorAll('#log li')].filter((li) => li.textContent.includes(`+strconv.Quote(text)+`)).length`), &n)
		return n
	}
	signOut := func() {
		t.Helper()
		before := logged("signed out: you signed out")
		b.click("logout")
		b.waitUntil("the sign-out is logged", 10*time.Second, func() bool { return logged("signed out: you signed out") > before })
	}

	// The button, with the autofill off (?autofill=off): the virtual
	// authenticator answers a conditional request at once, so with the
	// autofill on it would sign in before the button is clicked.
	b.openDemo("?autofill=off")
	if got := b.js(`document.getElementById('username').getAttribute('autocomplete')`); got != "username webauthn" {
		t.Errorf("username field autocomplete %q, want \"username webauthn\" (conditional mediation)", got)
	}
	b.signIn()
	if got := b.text("amr"); !strings.Contains(got, "password") {
		t.Errorf("signed in with %q, want a password", got)
	}

	b.click("passkey-add")
	b.waitUntil("the passkey is listed", 15*time.Second, func() bool { return passkeyRows() == "1" })
	if c := creds(); len(c) != 1 || !c[0].IsResidentCredential || c[0].RpID != "localhost" || len(c[0].UserHandle) != 32 {
		t.Fatalf("virtual authenticator holds %+v, want one resident credential for localhost with a 32-byte user handle", c)
	}
	if strings.Contains(string(creds()[0].UserHandle), localapi.DemoUsername) {
		t.Error("the user handle carries the username")
	}

	signOut()
	b.waitUntil("signed out", 10*time.Second, b.signedOut)
	b.click("passkey-login")
	b.waitUntil("signed in with the passkey button", 15*time.Second, func() bool { return logged("signed in with a passkey") == 1 && b.signedIn() })
	if got := b.text("amr"); !strings.Contains(got, "passkey") || !strings.Contains(got, "hwk user mfa") {
		t.Errorf("signed in with %q, want a device passkey (amr hwk user mfa)", got)
	}
	if c := creds(); len(c) != 1 || c[0].SignCount < 1 {
		t.Errorf("credential after a sign-in: %+v, want its counter moved", c)
	}

	// Autofill: the page reloaded without the switch (the session goes on
	// from the refresh cookie); signed out, it waits in a conditional
	// request, which the virtual environment answers with the one passkey
	// there is, as a user picking it from the username field's suggestions.
	b.openDemo("")
	b.waitUntil("signed in after the reload", 10*time.Second, b.signedIn)
	signOut()
	b.waitUntil("signed in through the autofill", 20*time.Second, func() bool {
		return logged("signed in with a passkey (autofill)") == 1 && b.signedIn()
	})

	b.waitUntil("the passkey list loads", 10*time.Second, func() bool { return passkeyRows() == "1" })
	b.click("passkey-remove-0")
	b.waitUntil("the passkey is removed", 10*time.Second, func() bool { return passkeyRows() == "0" })
	if !b.signedIn() {
		t.Errorf("removing the passkey signed this device out: %s; the page's log: %s", b.text("status"), firstLines(b.text("log"), 12))
	}
	// The removed passkey (still in the authenticator) signs nobody in,
	// through the button or the autofill (which answers at once too).
	signOut()
	b.waitUntil("signed out", 10*time.Second, b.signedOut)
	b.click("passkey-login")
	b.waitUntil("the refusal shows", 15*time.Second, func() bool {
		return strings.Contains(b.text("log"), "passkey_refused")
	})
	if b.signedIn() {
		t.Error("a removed passkey signed in")
	}
	b.mu.Lock()
	b.errs = nil // the refused sign-in is logged by the page on purpose
	b.mu.Unlock()
}
