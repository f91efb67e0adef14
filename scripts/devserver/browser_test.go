package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cachestorage"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/domstorage"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/indexeddb"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
)

// The browser tests: the browser client (shared/web/auth-client.js) and the
// demo page in real headless Chromium, driven over the DevTools protocol,
// against one real scripts/dev with 30-second access tokens. Pages of other
// origins (a front end allowed by --param AllowedOrigins, one that is not,
// and a cross-site attacker) are served by the test itself on localhost,
// while the demo page is on 127.0.0.1: another site.

// chromiumPath finds the browser: AUTH_CHROMIUM, else chromium on PATH. A
// missing browser fails the test: scripts/install-tools --browser installs
// it (scripts/test runs that).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AUTH_CHROMIUM"); p != "" {
		return p
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: run scripts/install-tools --browser (Debian's chromium), or set AUTH_CHROMIUM to a Chromium or Chrome")
	}
	return p
}

type browserEnv struct {
	mu       sync.Mutex
	secrets  []string // every access token and refresh cookie the tabs saw
	dev      *testenv.DevStack
	api      string // the local API and the demo page: http://127.0.0.1:PORT
	browser  context.Context
	store    *dynamo.Store
	frontEnd string // a front end AllowedOrigins names: http://localhost:PORT
	stranger string // a front end it does not name
	attacker string // a cross-site page
	shots    string // where screenshots go (AUTH_UPDATE_SCREENSHOTS=1: infra/screenshots)
}

// TestBrowser runs every browser scenario of issue 13 against one
// scripts/dev and one Chromium.
func TestBrowser(t *testing.T) {
	started := time.Now()
	chrome := chromiumPath(t)
	root, err := localaws.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	client, err := os.ReadFile(filepath.Join(root, "shared", "web", "auth-client.js"))
	if err != nil {
		t.Fatal(err)
	}
	e := &browserEnv{}
	frontEnd := listenLoopback(t)
	e.frontEnd = "http://localhost:" + port(frontEnd)
	e.dev = testenv.StartDev(t, "--param", "AccessTokenTTL=30s", "--param", "RevocationMaxStaleness=30s",
		"--param", "AllowedOrigins="+e.frontEnd)
	e.api = e.dev.API
	_, apiPort, _ := net.SplitHostPort(strings.TrimPrefix(e.api, "http://"))
	serveSite(t, frontEnd, client, frontEndPage("http://localhost:"+apiPort))
	stranger := listenLoopback(t)
	e.stranger = "http://localhost:" + port(stranger)
	serveSite(t, stranger, client, frontEndPage("http://localhost:"+apiPort))
	attacker := listenLoopback(t)
	e.attacker = "http://localhost:" + port(attacker)
	serveSite(t, attacker, client, attackPage(e.api))
	_, db := localaws.Clients(e.dev.Vars["AWS_ENDPOINT_URL_KMS"], e.dev.Vars["AWS_ENDPOINT_URL_DYNAMODB"])
	e.store = dynamo.New(db, dynamo.Tables{Sessions: e.dev.Vars["SESSIONS_TABLE"], Revocations: e.dev.Vars["REVOCATIONS_TABLE"]})
	if os.Getenv("AUTH_UPDATE_SCREENSHOTS") == "1" {
		e.shots = filepath.Join(root, "infra", "screenshots")
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1100, 900))...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	version, err := chromedp.CallBrowser(browser, browserVersion, cdp.Empty{})
	if err != nil {
		t.Fatalf("start %s: %v", chrome, err)
	}
	t.Logf("%s (%s), scripts/dev ready in %s", version.Product, chrome, time.Since(started).Round(time.Millisecond))
	e.browser = browser

	t.Run("SignInMeCookieReload", e.testSignInMeCookieReload)
	t.Run("FourTabsRefreshTogether", e.testFourTabs)
	t.Run("LogoutAllSignsOutEveryTab", e.testLogoutAll)
	t.Run("CrossSitePageCannotUseTheCookie", e.testCrossSite)
	t.Run("NoTokenInAnyStorage", e.testNoTokenInStorage)
	t.Run("EndAnotherDevice", e.testEndAnotherDevice)
	t.Run("KeyboardOnlyNoConsoleErrors", e.testKeyboard)
	t.Run("SeparateFrontEnd", e.testFrontEnd)
	t.Run("LostRefreshAnswer", e.testLostAnswer)
	t.Run("APIDownAndBack", e.testAPIDown)
	t.Run("LockoutShowsItsWait", e.testLockout)
	t.Run("DPoPBoundSession", e.testDPoPBoundSession)
	t.Run("TOTPEnrolAndSignIn", e.testTOTP)

	// No token the browser saw, and not the password, in any log.
	e.dev.Stop(t)
	e.mu.Lock()
	secrets := append(e.secrets, localapi.DemoPassword)
	e.mu.Unlock()
	if len(secrets) < 50 {
		t.Errorf("only %d secrets seen: the tabs' traffic was not recorded", len(secrets))
	}
	if logs := noSecretInLogs(t, e.dev, "", secrets); !strings.Contains(logs, "route=\"DELETE /auth/sessions/{id}\" status=204") {
		t.Error("the gateway's request log was not captured")
	}
	t.Logf("browser tests: %s in all", time.Since(started).Round(time.Millisecond))
}

var browserVersion = cdp.Command[cdp.Empty, struct {
	Product string `json:"product"`
}]{Method: "Browser.getVersion"}

// tab is one browser tab, with what it saw: uncaught exceptions and
// console.error calls, browser log errors (failed requests among them),
// and the requests it sent to the API.
type tab struct {
	t    *testing.T
	ctx  context.Context
	env  *browserEnv
	mu   sync.Mutex
	errs []string // exceptions and console.error
	logs []string // browser log entries of level error
	reqs []apiRequest
}

type apiRequest struct {
	method, path, authorization, dpop string
	at                                time.Time // when the test saw it
}

// device opens a tab in a new browser context: its own cookies and
// storage, as another device. userAgent, when set, is what it sends.
func (e *browserEnv) device(t *testing.T, userAgent string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(e.browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	b := e.watch(t, ctx)
	if userAgent != "" {
		if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: userAgent}); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// newTab opens another tab of the same device (browser context).
func (b *tab) newTab(t *testing.T) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	return b.env.watch(t, ctx)
}

func (e *browserEnv) watch(t *testing.T, ctx context.Context) *tab {
	t.Helper()
	b := &tab{t: t, ctx: ctx, env: e}
	if err := chromedp.Listen(ctx, b.record); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		call(ctx, runtime.Enable, cdp.Empty{}), call(ctx, cdplog.Enable, cdp.Empty{}),
		call(ctx, network.Enable, network.EnableParams{}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.errs) > 0 {
			t.Errorf("a tab had script errors: %q", b.errs)
		}
	})
	return b
}

func call[P, R any](ctx context.Context, cmd cdp.Command[P, R], p P) error {
	_, err := chromedp.Call(ctx, cmd, p)
	return err
}

func (b *tab) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		b.errs = append(b.errs, e.ExceptionDetails.Text+" "+describeException(e.ExceptionDetails))
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError {
			b.errs = append(b.errs, "console.error")
		}
	case *cdplog.EventEntryAdded:
		if e.Entry.Level == cdplog.EntryLevelError {
			b.logs = append(b.logs, e.Entry.Text)
		}
	case *network.EventRequestWillBeSent:
		if path, ok := strings.CutPrefix(e.Request.URL, b.env.api); ok {
			auth := headerValue(e.Request.Headers, "authorization")
			b.reqs = append(b.reqs, apiRequest{e.Request.Method, path, auth, headerValue(e.Request.Headers, "dpop"), time.Now()})
			b.env.secret(accessToken(auth))
		}
	case *network.EventResponseReceivedExtraInfo:
		for _, line := range strings.Split(headerValue(e.Headers, "set-cookie"), "\n") {
			if v, ok := strings.CutPrefix(line, "__Secure-refresh_token="); ok {
				b.env.secret(strings.SplitN(v, ";", 2)[0])
			}
		}
	}
}

func (e *browserEnv) secret(s string) {
	if s == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = append(e.secrets, s)
}

func describeException(d *runtime.ExceptionDetails) string {
	if d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}

func headerValue(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// requests counts the requests this tab sent to path.
func (b *tab) requests(method, path string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, r := range b.reqs {
		if r.method == method && r.path == path {
			n++
		}
	}
	return n
}

// accessToken is the token of an Authorization header of the Bearer or
// the DPoP scheme (RFC 9449 7.1), "" for any other.
func accessToken(authorization string) string {
	if tok, ok := strings.CutPrefix(authorization, "Bearer "); ok {
		return tok
	}
	tok, _ := strings.CutPrefix(authorization, "DPoP ")
	return tok
}

// bearer is the access token of the last request that carried one, of
// either scheme.
func (b *tab) bearer() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.reqs) - 1; i >= 0; i-- {
		if tok := accessToken(b.reqs[i].authorization); tok != "" {
			return tok
		}
	}
	return ""
}

// actionTimeout bounds one action: a click waits for its element, which a
// page that changed state may never show.
const actionTimeout = 20 * time.Second

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

// js evaluates expr in the page (awaiting a promise) and returns it as text.
func (b *tab) js(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string]("(async () => String(await ("+expr+")))()", chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func (b *tab) text(id string) string {
	b.t.Helper()
	return b.js(fmt.Sprintf("document.getElementById(%q).textContent", id))
}

func (b *tab) signedIn() bool {
	return b.js(`document.getElementById('status').classList.contains('in')`) == "true"
}

func (b *tab) signedOut() bool {
	return b.js(`document.getElementById('status').classList.contains('out')`) == "true"
}

// waitUntil polls cond until it holds or within passes.
func (b *tab) waitUntil(what string, within time.Duration, cond func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// openDemo loads the demo page and waits until the client has started.
func (b *tab) openDemo(query string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.env.api + DemoPath + query))
	b.waitUntil("the demo page starts", 10*time.Second, func() bool { return b.signedIn() || b.signedOut() })
}

// signIn signs in through the form, with the mouse.
func (b *tab) signIn() {
	b.t.Helper()
	b.do(chromedp.SetValue(chromedp.ID("username"), localapi.DemoUsername),
		chromedp.SetValue(chromedp.ID("password"), localapi.DemoPassword),
		chromedp.Click(chromedp.ID("login")))
	b.waitUntil("signed in", 10*time.Second, b.signedIn)
}

func (b *tab) click(id string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.ID(id)))
}

func (b *tab) screenshot(name string) {
	b.t.Helper()
	if b.env.shots == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.MkdirAll(b.env.shots, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.env.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// session reads a session as the table holds it.
func (e *browserEnv) session(t *testing.T, sid string) *auth.Session {
	t.Helper()
	s, err := e.store.Session(context.Background(), sid)
	if err != nil || s == nil {
		t.Fatalf("session %s: %v (%v)", sid, s, err)
	}
	return s
}

// apiStatus is GET /me with token, from Go, as any client of the API.
func (e *browserEnv) apiStatus(t *testing.T, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", e.api+"/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (e *browserEnv) testSignInMeCookieReload(t *testing.T) {
	b := e.device(t, "")
	b.openDemo("")
	b.screenshot("1-signed-out")
	b.signIn()
	sid := b.text("session-id")
	b.click("whoami")
	b.waitUntil("who am I answered", 5*time.Second, func() bool { return strings.Contains(b.text("whoami-out"), sid) })
	var me map[string]any
	if err := json.Unmarshal([]byte(b.text("whoami-out")), &me); err != nil || me["sid"] != sid || me["sub"] != localapi.DemoUserID {
		t.Errorf("GET /me shows %v, want the demo user and session %s", me, sid)
	}

	// The refresh cookie as the browser holds it.
	cookies, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{e.api + "/auth/refresh"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cookies.Cookies) != 1 {
		t.Fatalf("cookies for /auth/refresh: %d, want the refresh cookie only", len(cookies.Cookies))
	}
	c := cookies.Cookies[0]
	if c.Name != "__Secure-refresh_token" || !c.HTTPOnly || !c.Secure || c.SameSite != network.CookieSameSiteStrict || c.Path != "/auth" || c.Domain != "127.0.0.1" {
		t.Errorf("refresh cookie %s: HttpOnly %v Secure %v SameSite %s Path %s Domain %s; want HttpOnly, Secure, Strict, /auth, host-only",
			c.Name, c.HTTPOnly, c.Secure, c.SameSite, c.Path, c.Domain)
	}
	if got := b.js(`document.cookie`); got != "" {
		t.Errorf("document.cookie = %q: the refresh cookie must be invisible to script", got)
	}
	page, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{e.api + DemoPath}})
	if err != nil || len(page.Cookies) != 0 {
		t.Errorf("cookies sent to the demo page: %d (%v): the cookie is scoped to /auth", len(page.Cookies), err)
	}

	// A reload restores the session through the cookie: same session, a new token.
	jti := b.text("token-id")
	refreshes := b.requests("POST", "/auth/refresh")
	b.do(chromedp.Reload())
	b.waitUntil("signed in again after the reload", 10*time.Second, b.signedIn)
	if got := b.text("session-id"); got != sid {
		t.Errorf("after the reload: session %s, want %s", got, sid)
	}
	if got := b.text("token-id"); got == jti || b.requests("POST", "/auth/refresh") != refreshes+1 {
		t.Errorf("after the reload: token %s (was %s), %d refreshes: want one refresh and a new token", got, jti, b.requests("POST", "/auth/refresh")-refreshes)
	}
}

// testFourTabs: four tabs of one device hold one access token that
// expires at one moment; each time exactly one of them refreshes (one
// request, one rotation in the table), every tab takes the result, none
// is signed out and the session is never revoked for reuse: 20 times on
// schedule, 5 times with all four asking at once.
func (e *browserEnv) testFourTabs(t *testing.T) {
	// Refresh 29 s before the 30 s token expires: every second or so.
	e.fourTabs(t, "?refresh_before=29", func([]*tab) func() bool { return func() bool { return true } }, 20, "scheduled")
	// And all four ask at the same moment ("Refresh now" in every tab), on
	// another device whose next scheduled refresh is 22 s away: one
	// refreshes, the three that waited for the lock take its token.
	e.fourTabs(t, "", func(tabs []*tab) func() bool {
		at := time.Now().Add(300 * time.Millisecond).UnixMilli() // one instant, on the tabs' clock
		for _, b := range tabs {
			b.js(fmt.Sprintf(`setTimeout(() => { window.clickedAt = Date.now(); document.getElementById('refresh').click(); }, %d - Date.now())`, at))
		}
		// A loaded machine can fire the four timers far apart: then a
		// later click comes after the first refresh, and a second one is
		// right (a refresh asked for after the last one).
		return func() bool {
			var first, last int64
			for i, b := range tabs {
				var at int64
				fmt.Sscan(b.js(`window.clickedAt`), &at)
				if i == 0 || at < first {
					first = at
				}
				last = max(last, at)
			}
			if last-first > 300 {
				t.Logf("the four clicks were %d ms apart: not at once", last-first)
				return false
			}
			return true
		}
	}, 5, "all at once")
}

// fourTabs signs in on one tab, opens three more of the same device, and
// runs rounds: each round (started by start) ends when all four hold one
// new token, after exactly one refresh request and one rotation.
func (e *browserEnv) fourTabs(t *testing.T, query string, start func(tabs []*tab) (atOnce func() bool), rounds int, what string) {
	first := e.device(t, "")
	first.openDemo(query)
	first.signIn()
	tabs := []*tab{first}
	for range 3 {
		b := first.newTab(t)
		b.openDemo(query)
		tabs = append(tabs, b)
	}
	sid := first.text("session-id")
	tokenIDs := func() []string {
		var ids []string
		for _, b := range tabs {
			if !b.signedIn() {
				t.Fatalf("a tab is signed out: %s", b.text("status"))
			}
			ids = append(ids, b.text("token-id"))
		}
		return ids
	}
	refreshes := func() int {
		n := 0
		for _, b := range tabs {
			n += b.requests("POST", "/auth/refresh")
		}
		return n
	}
	for i, b := range tabs[1:] {
		if n := b.requests("POST", "/auth/refresh"); n != 0 {
			t.Errorf("new tab %d refreshed %d times: it takes the first tab's token", i+2, n)
		}
	}
	// Start from a quiet moment: every tab on one token, and as many
	// rotations in the table as refresh requests sent (none in flight).
	last := ""
	var base, rotations int
	for deadline := time.Now().Add(10 * time.Second); ; {
		ids := tokenIDs()
		base, rotations = refreshes(), len(e.session(t, sid).Retired)
		if again := tokenIDs(); len(slices.Compact(slices.Clone(ids))) == 1 && slices.Equal(ids, again) && base == rotations {
			last = ids[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no quiet moment: tabs hold %v, %d refresh requests, %d rotations", ids, base, rotations)
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := 0 // refresh requests so far
	sameToken := func(round int, what string, atOnce bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			ids := tokenIDs()
			if len(slices.Compact(slices.Clone(ids))) == 1 && ids[0] != last {
				last = ids[0]
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s round %d: tabs hold %v, want one new token in all four", what, round, ids)
			}
			time.Sleep(20 * time.Millisecond)
		}
		n := refreshes() - base
		if n != want+1 && (atOnce || n < want+1) {
			t.Fatalf("%s round %d: %d refresh requests from the four tabs, want 1; the tabs' last refreshes and clicks:\n%s", what, round, n-want, refreshTimes(tabs))
		}
		want = n
		if s := e.session(t, sid); len(s.Retired)-rotations != n || !s.RevokedAt.IsZero() {
			t.Fatalf("%s round %d: the session was rotated %d times for %d refresh requests (revoked %v): want one each, never revoked", what, round, len(s.Retired)-rotations, n, s.RevokedAt)
		}
	}
	for round := 1; round <= rounds; round++ {
		atOnce := start(tabs)
		sameToken(round, what, atOnce())
	}
	if logs, _ := os.ReadFile(filepath.Join(e.dev.State, "logs", "RefreshFunction.log")); strings.Contains(string(logs), "reuse detected") {
		t.Error("the refresh function detected reuse")
	}
}

// refreshTimes says when each tab sent its last three refresh requests
// and clicked last, for a failure's message.
func refreshTimes(tabs []*tab) string {
	var out strings.Builder
	for i, b := range tabs {
		b.mu.Lock()
		var at []string
		for _, r := range b.reqs {
			if r.method == "POST" && r.path == "/auth/refresh" {
				at = append(at, r.at.Format("15:04:05.000"))
			}
		}
		b.mu.Unlock()
		fmt.Fprintf(&out, "  tab %d: refreshes %v, clicked at %s, log: %s\n", i+1, at[max(0, len(at)-3):], b.js(`String(window.clickedAt)`), firstLines(b.text("log"), 4))
	}
	return out.String()
}

// firstLines is the first n lines of s, on one line.
func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[:min(n, len(lines))], " | ")
}

// testLogoutAll: logout-all in one tab signs every other tab out within a
// second (BroadcastChannel), and their token is refused by the API within
// the authorizer's sync interval; another device learns it at its next
// call. The first device's tabs use bearer tokens (?dpop=off): the test
// sends their token from Go, which a DPoP-bound token does not allow
// without the page's key (DPoPBoundSession checks that).
func (e *browserEnv) testLogoutAll(t *testing.T) {
	first := e.device(t, "")
	first.openDemo("?dpop=off")
	first.signIn()
	others := []*tab{first.newTab(t), first.newTab(t)}
	for _, b := range others {
		b.openDemo("?dpop=off")
	}
	other := e.device(t, "Another device")
	other.openDemo("")
	other.signIn()
	first.click("whoami")
	first.waitUntil("who am I answered", 5*time.Second, func() bool { return first.bearer() != "" })
	token := first.bearer()
	if e.apiStatus(t, token) != 200 {
		t.Fatal("the tabs' token is refused before logout-all")
	}

	start := time.Now()
	first.click("logout-all")
	var wg sync.WaitGroup
	took := make([]time.Duration, len(others))
	for i, b := range others {
		wg.Go(func() {
			for !b.signedOut() && time.Since(start) < 5*time.Second {
				time.Sleep(10 * time.Millisecond)
			}
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	for i, d := range took {
		if d > time.Second {
			t.Errorf("tab %d signed out %s after the click, want within a second", i+2, d)
		}
	}
	t.Logf("other tabs signed out after %v", took)
	first.waitUntil("the first tab signed out", 5*time.Second, first.signedOut)
	deadline := time.Now().Add(1500 * time.Millisecond) // REVOCATION_SYNC 1 s, replica mode
	for e.apiStatus(t, token) != 403 {
		if time.Now().After(deadline) {
			t.Fatal("the signed-out tabs' token is still accepted 1.5 s after logout-all")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The other device's token is refused: its next call (who am I, or the
	// session list it polls) signs it out.
	other.js(`document.getElementById('whoami').click()`)
	other.waitUntil("the other device signed out at its next call", 5*time.Second, other.signedOut)
	// Each page says why: the API's session_ended on the other device.
	for _, b := range []*tab{first, other} {
		if got := b.text("status"); !strings.Contains(got, "Signed out: signed out everywhere (logout-all)") {
			t.Errorf("banner %q, want it to say the session ended with logout-all", got)
		}
	}
	first.screenshot("4-signed-out-everywhere")
}

// testCrossSite: a page of another site, in the same browser as a signed-in
// demo tab, tries to refresh and to log out with the cookie: by fetch
// (cors and no-cors) and by a top-level form POST. The browser sends the
// SameSite=Strict cookie with none of them, and nothing changes: the
// session is not rotated or ended, the cookie stays, the tab refreshes.
func (e *browserEnv) testCrossSite(t *testing.T) {
	victim := e.device(t, "")
	victim.openDemo("")
	victim.signIn()
	sid := victim.text("session-id")
	before, err := chromedp.Call(victim.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{e.api + "/auth/refresh"}})
	if err != nil || len(before.Cookies) != 1 {
		t.Fatalf("victim's cookie: %v %v", before, err)
	}

	evil := victim.newTab(t)
	var mu sync.Mutex
	var sent []string // the refresh cookie went with a request to the API
	if err := chromedp.Listen(evil.ctx, func(ev any) {
		if x, ok := ev.(*network.EventRequestWillBeSentExtraInfo); ok {
			for _, c := range x.AssociatedCookies {
				if c.Cookie.Name == "__Secure-refresh_token" && len(c.BlockedReasons) == 0 {
					mu.Lock()
					sent = append(sent, string(x.RequestID))
					mu.Unlock()
				}
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	evil.do(chromedp.Navigate(e.attacker + "/"))
	evil.waitUntil("the attack page ran", 10*time.Second, func() bool { return evil.js(`window.done === true`) == "true" })
	var results map[string]string
	if err := json.Unmarshal([]byte(evil.js(`JSON.stringify(window.results)`)), &results); err != nil {
		t.Fatal(err)
	}
	for name, got := range results {
		if !strings.HasPrefix(got, "blocked") && !strings.HasPrefix(got, "opaque") {
			t.Errorf("cross-site %s: %s, want nothing readable", name, got)
		}
	}
	if n := evil.requests("POST", "/auth/refresh") + evil.requests("POST", "/auth/logout"); n < 3 {
		t.Errorf("the attack page sent %d requests to the API, want its 3 (the browser sends them, without the cookie)", n)
	}
	// A top-level form POST to logout: a navigation, the strongest case.
	evil.js(`(() => { const f = document.createElement('form'); f.method = 'POST'; f.action = ` + jsString(e.api+"/auth/logout") + `; document.body.append(f); f.submit(); return 'sent'; })()`)
	evil.waitUntil("the form POST landed", 10*time.Second, func() bool { return evil.requests("POST", "/auth/logout") >= 2 })
	evil.waitUntil("the form POST answered", 10*time.Second, func() bool {
		return strings.HasPrefix(evil.js(`location.href`), e.api) && evil.js(`document.readyState`) == "complete"
	})
	if body := evil.js(`document.body.innerText`); !strings.Contains(body, "forbidden_origin") {
		t.Errorf("the form POST got %q, want 403 forbidden_origin", body)
	}
	mu.Lock()
	if len(sent) > 0 {
		t.Errorf("the browser sent the refresh cookie with %d cross-site requests", len(sent))
	}
	mu.Unlock()

	after, err := chromedp.Call(victim.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{e.api + "/auth/refresh"}})
	if err != nil || len(after.Cookies) != 1 || after.Cookies[0].Value != before.Cookies[0].Value {
		t.Fatalf("the victim's cookie changed or went away: %v %v", after, err)
	}
	if s := e.session(t, sid); len(s.Retired) != 0 || !s.RevokedAt.IsZero() {
		t.Errorf("the session was rotated %d times or ended (%v) by the cross-site page", len(s.Retired), s.RevokedAt)
	}
	jti := victim.text("token-id")
	victim.click("refresh")
	victim.waitUntil("the victim refreshes", 5*time.Second, func() bool { return victim.text("token-id") != jti })
	if !victim.signedIn() {
		t.Error("the victim is signed out")
	}
}

// testNoTokenInStorage: after a login, a refresh and a second tab, no
// storage of the origin holds the access token (DevTools protocol: DOM
// storage, cookies, IndexedDB, Cache Storage), and the only cookie is the
// HttpOnly refresh cookie.
func (e *browserEnv) testNoTokenInStorage(t *testing.T) {
	first := e.device(t, "")
	first.openDemo("")
	first.signIn()
	second := first.newTab(t)
	second.openDemo("")
	second.click("refresh")
	second.click("whoami")
	second.waitUntil("who am I answered", 5*time.Second, func() bool { return second.bearer() != "" })
	first.click("whoami")
	first.waitUntil("the first tab has the refreshed token", 5*time.Second, func() bool {
		return first.bearer() == second.bearer()
	})
	token := second.bearer()
	for _, b := range []*tab{first, second} {
		for _, local := range []bool{true, false} {
			items, err := chromedp.Call(b.ctx, domstorage.GetDOMStorageItems, domstorage.GetDOMStorageItemsParams{
				StorageID: &domstorage.StorageID{SecurityOrigin: e.api, IsLocalStorage: local}})
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items.Entries {
				// The client's session hint, and the demo page's username
				// (shown on the page; not a secret) by user id.
				if kv := strings.Join(it, "="); kv != "lambda-auth:session-hint=1" &&
					(!local || kv != "lambda-auth-demo.username."+localapi.DemoUserID+"="+localapi.DemoUsername) {
					t.Errorf("storage (local %v) holds %q: only the session hint and the demo's username may be there", local, it)
				}
			}
		}
		cookies, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{e.api + "/auth/refresh", e.api + DemoPath, e.api + "/me"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cookies.Cookies {
			if c.Name != "__Secure-refresh_token" || !c.HTTPOnly || strings.Contains(c.Value, token) {
				t.Errorf("cookie %s (HttpOnly %v) in the browser", c.Name, c.HTTPOnly)
			}
		}
		// IndexedDB holds the DPoP key pair only (auth-client.js), its
		// private key not extractable: no token.
		dbs, err := chromedp.Call(b.ctx, indexeddb.RequestDatabaseNames, indexeddb.RequestDatabaseNamesParams{SecurityOrigin: e.api})
		if err != nil || len(dbs.DatabaseNames) > 1 || (len(dbs.DatabaseNames) == 1 && dbs.DatabaseNames[0] != dpopDatabase) {
			t.Errorf("IndexedDB databases %v (%v), want %s at most", dbs.DatabaseNames, err, dpopDatabase)
		}
		if got := b.js(storedDPoPKey + `.then((v) => Object.keys(v).sort() + ' ' + v.privateKey.type + ' extractable ' + v.privateKey.extractable)`); got != "privateKey,publicKey private extractable false" {
			t.Errorf("the DPoP key store holds %s, want a key pair whose private key is not extractable", got)
		}
		caches, err := chromedp.Call(b.ctx, cachestorage.RequestCacheNames, cachestorage.RequestCacheNamesParams{SecurityOrigin: e.api})
		if err != nil || len(caches.Caches) != 0 {
			t.Errorf("Cache Storage %v (%v)", caches.Caches, err)
		}
		if got := b.js(`document.cookie + JSON.stringify(Object.entries(localStorage)) + JSON.stringify(Object.entries(sessionStorage))`); strings.Contains(got, token) || strings.Contains(got, "eyJ") {
			t.Errorf("script-visible storage holds a token: %s", got)
		}
	}
}

// testEndAnotherDevice: device A ends device B from its session list; B's
// tab is signed out (its next call of the list gets 403, the client's
// refresh then 401), and B leaves A's list.
func (e *browserEnv) testEndAnotherDevice(t *testing.T) {
	a := e.device(t, "Device A (test browser)")
	a.openDemo("")
	a.signIn()
	b := e.device(t, "Device B (test browser)")
	b.openDemo("")
	b.signIn()
	bSession := b.text("session-id")
	a.click("refresh") // any change of state reloads the list
	a.waitUntil("A lists B", 10*time.Second, func() bool { return strings.Contains(a.text("devices"), "Device B (test browser)") })
	if got := a.text("devices"); !strings.Contains(got, "Device A (test browser) (this device)") {
		t.Errorf("A's list %q does not mark A as this device", got)
	}
	a.screenshot("2-signed-in-devices")
	start := time.Now()
	a.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[data-session=%q]`, bSession))))
	b.waitUntil("B signed out", 12*time.Second, b.signedOut)
	t.Logf("device B signed out %s after A ended its session", time.Since(start).Round(time.Millisecond))
	if got := b.text("status"); !strings.Contains(got, "Signed out: this session was ended from another device") {
		t.Errorf("B's banner %q, want it to say another device ended the session (not that it expired)", got)
	}
	a.waitUntil("B gone from A's list", 10*time.Second, func() bool { return !strings.Contains(a.text("devices"), "Device B") })
	if s := e.session(t, bSession); s.RevokedAt.IsZero() {
		t.Error("B's session is not marked ended")
	}
	if !a.signedIn() {
		t.Error("A is signed out")
	}
}

// testKeyboard: sign in, who am I, refresh and sign out with the keyboard
// alone, focus moving where the next action is and visibly marked, and
// not one console error (no failed request either) on the way.
func (e *browserEnv) testKeyboard(t *testing.T) {
	b := e.device(t, "")
	b.openDemo("")
	focused := func() string { return b.js(`document.activeElement && document.activeElement.id`) }
	visible := func() {
		t.Helper()
		if o := b.js(`getComputedStyle(document.activeElement).outlineStyle`); o == "none" {
			t.Errorf("#%s has no visible focus outline", focused())
		}
	}
	b.waitUntil("the username field has the focus", 5*time.Second, func() bool { return focused() == "username" })
	b.do(chromedp.KeyEvent(localapi.DemoUsername), chromedp.KeyEvent(kb.Tab))
	if f := focused(); f != "password" {
		t.Fatalf("Tab from the username: focus on #%s, want #password", f)
	}
	b.do(chromedp.KeyEvent(localapi.DemoPassword), chromedp.KeyEvent(kb.Enter))
	b.waitUntil("signed in with Enter", 10*time.Second, b.signedIn)
	b.waitUntil("the focus moves to the session", 5*time.Second, func() bool { return focused() == "session-title" })
	steps := []struct{ id, after string }{{"whoami", "who am I"}, {"refresh", "refresh"}}
	jti := b.text("token-id")
	for _, s := range steps {
		b.do(chromedp.KeyEvent(kb.Tab))
		if f := focused(); f != s.id {
			t.Fatalf("Tab: focus on #%s, want #%s", f, s.id)
		}
		visible()
		b.do(chromedp.KeyEvent(kb.Enter))
	}
	b.waitUntil("who am I shown", 5*time.Second, func() bool { return strings.Contains(b.text("whoami-out"), localapi.DemoUserID) })
	b.waitUntil("refreshed", 5*time.Second, func() bool { return b.text("token-id") != jti })
	b.screenshot("3-who-am-i")
	b.do(chromedp.KeyEvent(kb.Tab))
	if f := focused(); f != "logout" {
		t.Fatalf("Tab: focus on #%s, want #logout", f)
	}
	b.do(chromedp.KeyEvent(kb.Enter))
	b.waitUntil("signed out with Enter", 5*time.Second, b.signedOut)
	b.waitUntil("the focus back on the username", 5*time.Second, func() bool { return focused() == "username" })
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errs)+len(b.logs) > 0 {
		t.Errorf("console errors: %q %q", b.errs, b.logs)
	}
}

// testFrontEnd: a front end on another origin that AllowedOrigins names
// (a dev server on localhost) uses the API through CORS with credentials:
// sign in, a protected call, refresh with the cookie, logout. One that is
// not named cannot even sign in: the browser refuses the preflight.
func (e *browserEnv) testFrontEnd(t *testing.T) {
	b := e.device(t, "")
	b.do(chromedp.Navigate(e.frontEnd + "/"))
	got := b.js(`(async () => {
		const c = window.fe.client, out = [];
		await c.login(` + jsString(localapi.DemoUsername) + `, ` + jsString(localapi.DemoPassword) + `);
		out.push('login ' + c.state.signedIn);
		const me = await c.fetch('/me');
		out.push('me ' + me.status + ' ' + (await me.json()).sid.length);
		const before = c.state.tokenId;
		await c.refresh();
		out.push('refresh ' + (c.state.tokenId !== before));
		await c.logout();
		out.push('logout ' + c.state.signedIn);
		return out.join(', ');
	})()`)
	if want := "login true, me 200 32, refresh true, logout false"; got != want {
		t.Errorf("front end on %s: %s, want %s", e.frontEnd, got, want)
	}
	s := e.device(t, "")
	s.do(chromedp.Navigate(e.stranger + "/"))
	got = s.js(`window.fe.client.login(` + jsString(localapi.DemoUsername) + `, ` + jsString(localapi.DemoPassword) + `).then(() => 'signed in', (e) => e.name)`)
	if got != "TypeError" {
		t.Errorf("front end on %s (not allowed): %s, want the browser's CORS refusal (TypeError)", e.stranger, got)
	}
}

// testLostAnswer: the answer to a refresh is lost after the API rotated
// the session (the DevTools protocol holds the request, the test sends it,
// the browser's copy fails): the client
// retries with the cookie it still holds, within the grace window, and
// gets the same next token: one rotation, the session kept, and the next
// refresh works with the cookie the retry set.
func (e *browserEnv) testLostAnswer(t *testing.T) {
	b := e.device(t, "")
	b.openDemo("")
	b.signIn()
	sid := b.text("session-id")
	// The first refresh the page sends is held; the test sends it to the
	// API itself, with the browser's cookie and the request's own DPoP
	// proof, and then fails it in the browser: the API rotated, the
	// browser never saw the answer or its Set-Cookie.
	var mu sync.Mutex
	paused := 0
	lost := make(chan int, 1)
	if err := chromedp.Listen(b.ctx, func(ev any) {
		p, ok := ev.(*fetch.EventRequestPaused)
		if !ok {
			return
		}
		mu.Lock()
		paused++
		first := paused == 1
		mu.Unlock()
		go func() {
			if !first {
				chromedp.Call(b.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: p.RequestID})
				return
			}
			status := 0
			if cookies, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{e.api + "/auth/refresh"}}); err == nil && len(cookies.Cookies) == 1 {
				req, _ := http.NewRequest("POST", e.api+"/auth/refresh", nil)
				req.Header.Set("Origin", e.api)
				if proof := headerValue(p.Request.Headers, "dpop"); proof != "" {
					req.Header.Set("DPoP", proof)
				}
				req.AddCookie(&http.Cookie{Name: cookies.Cookies[0].Name, Value: cookies.Cookies[0].Value})
				if resp, err := http.DefaultClient.Do(req); err == nil {
					status = resp.StatusCode
					resp.Body.Close()
				}
			}
			lost <- status
			chromedp.Call(b.ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: p.RequestID, ErrorReason: network.ErrorReasonConnectionReset})
		}()
	}); err != nil {
		t.Fatal(err)
	}
	if err := call(b.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/auth/refresh"}}}); err != nil {
		t.Fatal(err)
	}
	jti := b.text("token-id")
	b.click("refresh")
	b.waitUntil("refreshed despite the lost answer", 10*time.Second, func() bool { return b.text("token-id") != jti })
	if status := <-lost; status != 200 {
		t.Fatalf("the refresh whose answer is lost: %d at the API, want 200", status)
	}
	mu.Lock()
	n := paused
	mu.Unlock()
	if n != 2 {
		t.Errorf("%d refresh requests, want 2 (the lost one and the retry)", n)
	}
	if s := e.session(t, sid); len(s.Retired) != 1 || !s.RevokedAt.IsZero() {
		t.Errorf("session rotated %d times, revoked %v: want one rotation, kept", len(s.Retired), s.RevokedAt)
	}
	if err := call(b.ctx, fetch.Disable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	jti = b.text("token-id")
	b.click("refresh")
	b.waitUntil("the next refresh", 5*time.Second, func() bool { return b.text("token-id") != jti })
	if s := e.session(t, sid); len(s.Retired) != 2 || !s.RevokedAt.IsZero() || !b.signedIn() {
		t.Errorf("after the next refresh: rotated %d times, revoked %v, signed in %v", len(s.Retired), s.RevokedAt, b.signedIn())
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func port(ln net.Listener) string {
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

// serveSite serves a test page at / and the browser client at
// /auth-client.js (a front end copies it into its own app).
func serveSite(t *testing.T, ln net.Listener, client []byte, html string) {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(html))
		case "/auth-client.js":
			w.Header().Set("Content-Type", "text/javascript")
			w.Write(client)
		case "/favicon.ico":
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

func frontEndPage(api string) string {
	return `<!doctype html><meta charset="utf-8"><title>a front end</title><body>
<script type="module">
import { createAuthClient } from '/auth-client.js';
window.fe = { client: createAuthClient({ baseUrl: ` + jsString(api) + ` }) };
</script>`
}

// attackPage tries, from another site, to use the refresh cookie of api.
func attackPage(api string) string {
	return `<!doctype html><meta charset="utf-8"><title>another site</title><body>
<script type="module">
const api = ` + jsString(api) + `;
window.results = {};
async function attempt(name, init) {
	try {
		const r = await fetch(api + init.path, { method: 'POST', credentials: 'include', mode: init.mode });
		window.results[name] = r.type === 'opaque' ? 'opaque (unreadable)' : 'read ' + r.status + ' ' + (await r.text());
	} catch (e) {
		window.results[name] = 'blocked: ' + e.name;
	}
}
await attempt('refresh', { path: '/auth/refresh', mode: 'cors' });
await attempt('refresh (no-cors)', { path: '/auth/refresh', mode: 'no-cors' });
await attempt('logout (no-cors)', { path: '/auth/logout', mode: 'no-cors' });
window.done = true;
</script>`
}

// testAPIDown: the API stops answering (every request to it refused, as a
// stopped scripts/dev refuses it) while a tab is signed in. The failed call
// shows on the banner, which no longer says "Signed in", and next to its
// button; the session list is marked out of date; the page polls with
// backoff and, once the API answers again, recovers with no click. On the
// way: the username shown (not the user id), the device named as a person
// would name it with its User-Agent on hover, and the log newest first.
func (e *browserEnv) testAPIDown(t *testing.T) {
	const ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	b := e.device(t, ua)
	b.openDemo("")
	b.signIn()
	if got := b.text("subject"); got != localapi.DemoUsername {
		t.Errorf("User shows %q, want the username %q", got, localapi.DemoUsername)
	}
	if got := b.js(`document.getElementById('subject').title`); !strings.Contains(got, localapi.DemoUserID) {
		t.Errorf("the username's title %q lacks the user id", got)
	}
	b.waitUntil("the session list names this device", 10*time.Second, func() bool {
		return strings.Contains(b.text("devices"), "Chrome on Linux (this device)")
	})
	if got := b.js(`[...document.querySelectorAll('#devices td.ua')].find((td) => td.textContent.includes('this device')).title`); got != ua {
		t.Errorf("the device's title (hover) %q, want its User-Agent %q", got, ua)
	}

	// The API goes away: every request to it fails as a refused connection.
	var down atomic.Bool
	down.Store(true)
	if err := chromedp.Listen(b.ctx, func(ev any) {
		p, ok := ev.(*fetch.EventRequestPaused)
		if !ok {
			return
		}
		go func() {
			if down.Load() {
				chromedp.Call(b.ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: p.RequestID, ErrorReason: network.ErrorReasonConnectionRefused})
				return
			}
			chromedp.Call(b.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: p.RequestID})
		}()
	}); err != nil {
		t.Fatal(err)
	}
	if err := call(b.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: e.api + "/*"}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { call(b.ctx, fetch.Disable, cdp.Empty{}) })
	polls := b.requests("GET", "/.well-known/openid-configuration")
	b.click("whoami")
	b.waitUntil("the banner says the API is not answering", 5*time.Second, func() bool {
		return strings.Contains(b.text("status"), "The API is not answering")
	})
	if b.signedIn() || strings.Contains(b.text("status"), "Signed in") {
		t.Errorf("banner %q still says signed in with the API down", b.text("status"))
	}
	if got := b.text("status"); !strings.Contains(got, "who am I failed") {
		t.Errorf("banner %q does not name the call that failed", got)
	}
	if got := b.text("whoami-error"); !strings.Contains(got, "who am I failed: no answer") {
		t.Errorf("next to Who am I: %q, want the failure", got)
	}
	if got := b.text("whoami-out"); !strings.Contains(got, "no answer") {
		t.Errorf("Who am I's output %q, want the failure", got)
	}
	if b.js(`document.getElementById('devices-stale').hidden`) != "false" || b.js(`document.getElementById('devices-table').classList.contains('stale')`) != "true" {
		t.Error("the session list is not marked out of date")
	}
	b.screenshot("5-api-down")
	// It polls (1 s, then 2 s, ...): two polls within 8 s.
	b.waitUntil("the page polls the API", 8*time.Second, func() bool {
		return b.requests("GET", "/.well-known/openid-configuration") >= polls+2
	})

	// The API answers again: the page recovers by itself.
	down.Store(false)
	start := time.Now()
	b.waitUntil("the page recovers with no click", 25*time.Second, func() bool {
		return b.signedIn() && !strings.Contains(b.text("status"), "not answering")
	})
	t.Logf("recovered %s after the API came back", time.Since(start).Round(time.Millisecond))
	if got := b.text("whoami-error"); got != "" {
		t.Errorf("next to Who am I after the recovery: %q, want nothing", got)
	}
	if got := b.text("status"); strings.Contains(got, "failed") {
		t.Errorf("banner after the recovery: %q", got)
	}
	b.waitUntil("the session list is current again", 10*time.Second, func() bool {
		return b.js(`document.getElementById('devices-stale').hidden`) == "true" && strings.Contains(b.text("devices"), "Chrome on Linux (this device)")
	})
	// The log: newest first, numbered down from the newest.
	if b.js(`document.getElementById('log').reversed`) != "true" {
		t.Error("the log is not a reversed list: its newest entry is numbered 1")
	}
	entries := b.js(`[...document.querySelectorAll('#log li')].map((li) => li.textContent).join('\n')`)
	back, gone := strings.Index(entries, "the API answers again"), strings.Index(entries, "the API is not answering")
	if back < 0 || gone < 0 || back > gone {
		t.Errorf("the log is not newest first (the return above the outage):\n%s", entries)
	}
}

// testLockout: a username locked out after too many failed logins: the
// page says how long to wait (the 429's Retry-After) and keeps the button
// disabled meanwhile. Another username than the demo user's: the lock
// holds for 30 s and more.
func (e *browserEnv) testLockout(t *testing.T) {
	const user = "locked-out@example.com"
	for i := 0; ; i++ {
		if i == 10 {
			t.Fatal("no 429 after 10 failed logins")
		}
		resp, err := http.Post(e.api+"/auth/login", "application/json", strings.NewReader(`{"username":"`+user+`","password":"wrong password"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 429 {
			break
		}
	}
	b := e.device(t, "")
	b.openDemo("")
	b.do(chromedp.SetValue(chromedp.ID("username"), user),
		chromedp.SetValue(chromedp.ID("password"), "wrong password"),
		chromedp.Click(chromedp.ID("login")))
	b.waitUntil("the page shows the lockout", 10*time.Second, func() bool {
		return strings.Contains(b.text("login-error"), "try again in")
	})
	m := regexp.MustCompile(`sign-in is locked, try again in (\d+) s`).FindStringSubmatch(b.text("login-error"))
	if m == nil {
		t.Fatalf("lockout message %q, want the wait in seconds", b.text("login-error"))
	}
	if n, _ := strconv.Atoi(m[1]); n < 1 || n > 900 {
		t.Errorf("lockout wait %s s, want between 1 s and LoginLockoutMax", m[1])
	}
	if b.js(`document.getElementById('login').disabled`) != "true" {
		t.Error("the sign-in button is enabled during the lockout")
	}
	if got := b.text("status"); !strings.Contains(got, "sign in failed: 429 too_many_attempts") {
		t.Errorf("banner %q does not show the failed sign-in", got)
	}
	b.screenshot("6-locked-out")
}
