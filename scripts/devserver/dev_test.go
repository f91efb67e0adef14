package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/scripts/localaws/locallambda"
	"github.com/authkit/lambda-auth/scripts/testenv"
)

// loopbackJar is a cookie jar that treats http://127.0.0.1 as a secure
// context, as browsers do for loopback (W3C Secure Contexts, "potentially
// trustworthy origin"), so the Secure refresh cookie round-trips as it
// would in a browser against the local API.
type loopbackJar struct{ jar *cookiejar.Jar }

func (j loopbackJar) secure(u *url.URL) *url.URL {
	c := *u
	if host := u.Hostname(); host == "127.0.0.1" || host == "localhost" {
		c.Scheme = "https"
	}
	return &c
}

func (j loopbackJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	j.jar.SetCookies(j.secure(u), cookies)
}

func (j loopbackJar) Cookies(u *url.URL) []*http.Cookie { return j.jar.Cookies(j.secure(u)) }

// browser is an HTTP client with a cookie jar that sends Origin like a
// browser on the API's own origin.
type browser struct {
	t      *testing.T
	client *http.Client
	jar    loopbackJar
	base   string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	lj := loopbackJar{jar}
	return &browser{t: t, client: &http.Client{Jar: lj, Timeout: 30 * time.Second}, jar: lj, base: base}
}

type response struct {
	status  int
	header  http.Header
	body    []byte
	cookies []*http.Cookie
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// deniedWithinSync checks that GET /me with token becomes 403 within the
// authorizer's revocation sync interval (1 s, replica mode: the template's
// default) plus one request, polling every 20 ms. The bound allows 2 s for
// the request on a loaded machine: scripts/bench measures the real
// distribution (BENCHMARKS.md).
func (b *browser) deniedWithinSync(what, token string) {
	b.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		status := b.do("GET", "/me", "", nil, bearer(token)...).status
		if status == 403 {
			return
		}
		if time.Now().After(deadline) {
			b.t.Errorf("%s: %d 3 s after the revocation, want 403 within the sync interval (1 s) and a request", what, status)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *browser) do(method, path, contentType string, body []byte, headers ...string) response {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, bytes.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Origin", b.base)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: data, cookies: resp.Cookies()}
}

func (b *browser) login(user, pw string) (string, response) {
	b.t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	r := b.do("POST", "/auth/login", "application/json", body)
	if r.status != 200 {
		b.t.Fatalf("login: %d %s", r.status, r.body)
	}
	tok, _ := r.json(b.t)["access_token"].(string)
	if tok == "" {
		b.t.Fatalf("login: no access_token in %s", r.body)
	}
	return tok, r
}

func (b *browser) refreshCookie() *http.Cookie {
	u, _ := url.Parse(b.base + "/auth/refresh")
	for _, c := range b.jar.Cookies(u) {
		if c.Name == "__Secure-refresh_token" {
			return c
		}
	}
	return nil
}

func (b *browser) setRefreshCookie(value string) {
	u, _ := url.Parse(b.base + "/auth/")
	b.jar.SetCookies(u, []*http.Cookie{{Name: "__Secure-refresh_token", Value: value, Path: "/auth", Secure: true, HttpOnly: true}})
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// TestLocalAPIEndToEnd runs scripts/dev and drives its HTTP API with a real
// HTTP client, cookie jar and all, through the whole flow: login, a
// protected call, refresh with rotation, reuse detection, logout,
// logout-all and a console-style revoke with scripts/invoke.
func TestLocalAPIEndToEnd(t *testing.T) {
	d := testenv.StartDev(t, "--param", "RefreshReuseGrace=1s")
	checkStartup(t, d)
	b := newBrowser(t, d.API)
	secrets := []string{localapi.DemoPassword}

	// Login: an access token in the body, the refresh token in a cookie.
	tok, r := b.login(localapi.DemoUsername, localapi.DemoPassword)
	secrets = append(secrets, tok)
	setCookie := strings.Join(r.header.Values("Set-Cookie"), "\n")
	for _, attr := range []string{"__Secure-refresh_token=", "Path=/auth", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(setCookie, attr) {
			t.Errorf("login Set-Cookie %q lacks %s", setCookie, attr)
		}
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("login Cache-Control %q, want no-store", r.header.Get("Cache-Control"))
	}
	first := b.refreshCookie()
	if first == nil {
		t.Fatal("the jar holds no refresh cookie after login")
	}
	secrets = append(secrets, first.Value)

	// A protected call: the authorizer's context reaches the route.
	me := b.do("GET", "/me", "", nil, bearer(tok)...)
	if me.status != 200 || me.json(t)["sub"] != localapi.DemoUserID {
		t.Fatalf("/me: %d %s", me.status, me.body)
	}
	if got, want := me.json(t)["scope"], strings.Join(localapi.DemoScopes, " "); got != want {
		t.Errorf("/me scope = %v, want %q (the demo user's scopes)", got, want)
	}

	// The JWKS publishes the key that signed the token.
	jwks := b.do("GET", "/.well-known/jwks.json", "", nil)
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	var h struct{ Kid string }
	json.Unmarshal(header, &h)
	if jwks.status != 200 || h.Kid == "" || !strings.Contains(string(jwks.body), `"kid":"`+h.Kid+`"`) {
		t.Errorf("jwks %d %s does not publish kid %q", jwks.status, jwks.body, h.Kid)
	}

	// Refresh rotates the cookie and issues a new access token.
	r = b.do("POST", "/auth/refresh", "", nil)
	second := b.refreshCookie()
	if r.status != 200 || second == nil || second.Value == first.Value {
		t.Fatalf("refresh: %d %s; cookie rotated: %v", r.status, r.body, second != nil && second.Value != first.Value)
	}
	tok2, _ := r.json(t)["access_token"].(string)
	secrets = append(secrets, second.Value, tok2)
	if me := b.do("GET", "/me", "", nil, bearer(tok2)...); me.status != 200 {
		t.Errorf("/me with the refreshed token: %d", me.status)
	}

	// Reuse of the old refresh token after the grace window (1 s here,
	// counted from the rotation's write, so up to 1.5 s after its stamp):
	// 401, and the whole session is revoked, its access tokens included.
	time.Sleep(2100 * time.Millisecond)
	b.setRefreshCookie(first.Value)
	if r := b.do("POST", "/auth/refresh", "", nil); r.status != 401 || r.json(t)["error"] != "invalid_refresh_token" {
		t.Errorf("reuse of a rotated refresh token: %d %s, want 401 invalid_refresh_token", r.status, r.body)
	}
	b.setRefreshCookie(second.Value)
	if r := b.do("POST", "/auth/refresh", "", nil); r.status != 401 {
		t.Errorf("the current refresh token of a session revoked for reuse: %d %s, want 401", r.status, r.body)
	}
	b.deniedWithinSync("/me with an access token of the revoked session", tok2)

	// Logout ends this session and clears the cookie.
	tok3, _ := b.login(localapi.DemoUsername, localapi.DemoPassword)
	third := b.refreshCookie()
	secrets = append(secrets, tok3, third.Value)
	if r := b.do("POST", "/auth/logout", "", nil); r.status/100 != 2 {
		t.Errorf("logout: %d %s", r.status, r.body)
	}
	if b.refreshCookie() != nil {
		t.Error("logout left the refresh cookie in the jar")
	}
	b.setRefreshCookie(third.Value)
	if r := b.do("POST", "/auth/refresh", "", nil); r.status != 401 {
		t.Errorf("refresh after logout: %d, want 401", r.status)
	}

	// Log out of all devices: both sessions' access and refresh tokens end.
	other := newBrowser(t, d.API)
	tokA, _ := b.login(localapi.DemoUsername, localapi.DemoPassword)
	tokB, _ := other.login(localapi.DemoUsername, localapi.DemoPassword)
	secrets = append(secrets, tokA, tokB, b.refreshCookie().Value, other.refreshCookie().Value)
	time.Sleep(5 * time.Millisecond) // session starts are in ms: logout-all ends those started before it
	if r := b.do("POST", "/auth/logout-all", "", nil, bearer(tokA)...); r.status/100 != 2 {
		t.Fatalf("logout-all: %d %s", r.status, r.body)
	}
	for name, tk := range map[string]string{"this device": tokA, "the other device": tokB} {
		b.deniedWithinSync("/me from "+name+" after logout-all", tk)
	}
	if r := other.do("POST", "/auth/refresh", "", nil); r.status != 401 {
		t.Errorf("refresh on the other device after logout-all: %d, want 401", r.status)
	}

	// Console-style revoke: the revoke function with a sample event, through
	// scripts/invoke, ends the demo user's sessions.
	time.Sleep(5 * time.Millisecond)
	tokC, _ := b.login(localapi.DemoUsername, localapi.DemoPassword)
	secrets = append(secrets, tokC, b.refreshCookie().Value)
	if me := b.do("GET", "/me", "", nil, bearer(tokC)...); me.status != 200 {
		t.Fatalf("/me before revoke: %d", me.status)
	}
	time.Sleep(5 * time.Millisecond)
	root, _ := localaws.RepoRoot()
	inv := exec.Command(filepath.Join(root, "scripts", "invoke"), "--state", d.State, "revoke", filepath.Join(root, "events", "revoke-user.json"))
	inv.Dir = root
	var invOut, invErr bytes.Buffer
	inv.Stdout, inv.Stderr = &invOut, &invErr
	if err := inv.Run(); err != nil || !strings.Contains(invOut.String(), `"revoked": "user"`) {
		t.Fatalf("scripts/invoke revoke: %v\n%s\n%s", err, invOut.String(), invErr.String())
	}
	b.deniedWithinSync("/me after the user was revoked", tokC)
	if r := b.do("POST", "/auth/refresh", "", nil); r.status != 401 {
		t.Errorf("refresh after the user was revoked: %d, want 401", r.status)
	}

	// The Lambda Invoke API (as sam local start-lambda) answers the AWS
	// SDK, as scripts/create-user uses it: the revoke function by its
	// logical id; an unknown function is ResourceNotFoundException.
	vars, err := localaws.DevEndpoints(d.State)
	if err != nil || vars["AWS_ENDPOINT_URL_LAMBDA"] == "" || vars["REVOKE_FUNCTION"] != "RevokeFunction" {
		t.Fatalf("endpoints file: %v %v", vars, err)
	}
	fn := locallambda.Client(vars["AWS_ENDPOINT_URL_LAMBDA"])
	out, err := fn.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("RevokeFunction"),
		Payload: []byte(`{"jti":"j-local-invoke","reason":"test"}`)})
	if err != nil || out.FunctionError != nil || !strings.Contains(string(out.Payload), `"revoked":"token"`) {
		t.Errorf("Lambda Invoke of RevokeFunction: %v %s", err, out.Payload)
	}
	out, err = fn.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("RevokeFunction"), Payload: []byte(`{"jti":""}`)})
	if err != nil || out.FunctionError == nil {
		t.Errorf("a bad revoke event: %v, want a function error", err)
	}
	var nf *lambdatypes.ResourceNotFoundException
	if _, err := fn.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("NoSuchFunction")}); !errors.As(err, &nf) {
		t.Errorf("an unknown function: %v, want ResourceNotFoundException", err)
	}

	// No secret in any log: the gateway's request log and every function's
	// log (stdout only has the banner, which prints the demo credentials).
	d.Stop(t)
	if !strings.Contains(d.ErrOut.String(), "route=\"GET /me\" status=403") {
		t.Errorf("the gateway's request log was not captured:\n%s", d.ErrOut)
	}
	if logs := noSecretInLogs(t, d, invErr.String(), secrets); !strings.Contains(logs, `"audit: revoked"`) {
		t.Error("the function logs were not captured (no revoke audit line)")
	}
}

// noSecretInLogs fails the test when a secret is in the gateway's request
// log (stderr), in extra, or in any function's log; it returns them all.
func noSecretInLogs(t testing.TB, d *testenv.DevStack, extra string, secrets []string) string {
	t.Helper()
	logs := d.ErrOut.String() + extra
	files, _ := filepath.Glob(filepath.Join(d.State, "logs", "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		logs += string(b)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("a secret (%.12s...) is in the logs", s)
		}
	}
	return logs
}

// TestBannerFlow runs the curl lines scripts/dev prints, as a newcomer
// pastes them, and checks what each step answers.
//
// Its scripts/dev is given a start ten minutes ago (LAMBDA_AUTH_DEV_STARTED,
// as a caller may pass it): the banner's total counts from it.
func TestBannerFlow(t *testing.T) {
	before := time.Now().Add(-10 * time.Minute)
	d := testenv.StartDevEnv(t, t.TempDir(), []string{fmt.Sprintf("LAMBDA_AUTH_DEV_STARTED=%d.%06d", before.Unix(), before.Nanosecond()/1000)},
		"--param", "RefreshReuseGrace=1s")
	banner := d.Out.String()
	// The banner rounds to a tenth of a second: 50 ms either way.
	if got := bannerTotal(t, banner); got < 10*time.Minute-50*time.Millisecond || got > time.Since(before)+50*time.Millisecond {
		t.Errorf("banner's total %s, want between 10m and %s (since the start passed to scripts/dev)", got, time.Since(before))
	}
	start, end := strings.Index(banner, "# ---8<---\n"), strings.Index(banner, "# --->8---")
	if start < 0 || end < start {
		t.Fatalf("no flow between the markers in:\n%s", banner)
	}
	root, _ := localaws.RepoRoot()
	cmd := exec.Command("bash", "-c", banner[start:end])
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the printed lines failed: %v\n%s", err, out)
	}
	// What each step prints, in order.
	want := []string{
		"access token: eyJ",                   // 1. login
		`"sub":"` + localapi.DemoUserID + `"`, // 2. /me
		`"access_token":"eyJ`,                 // 3. refresh
		`"error":"invalid_refresh_token"`,     // 4. the old cookie replayed
		`"error":"invalid_refresh_token"`,     //    the current one: the session is revoked
		`{"message":"Forbidden"}`,             //    and its access token
		"logout-all: HTTP 204",                // 5. logout-all
		`{"message":"Forbidden"}`,             //    and after it
		`"sub":"` + localapi.DemoUserID + `"`, // 6. a new login works
		`"revoked": "user"`,                   //    the revoke function
		`{"message":"Forbidden"}`,             //    and then it does not
	}
	rest := string(out)
	for i, w := range want {
		k := strings.Index(rest, w)
		if k < 0 {
			t.Fatalf("step output %d: %q not found in what remains:\n%s\n(all output:\n%s)", i, w, rest, out)
		}
		rest = rest[k+len(w):]
	}
}

// TestLocalAPIBadRequests: whatever a client sends, the answer is a 4xx
// with a JSON error, never a 500.
func TestLocalAPIBadRequests(t *testing.T) {
	d := testenv.StartDev(t)

	// A client that gives up mid-request leaves the API working (on AWS the
	// invocation runs to its end and nothing else notices).
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", d.API+"/auth/login",
		strings.NewReader(`{"username":"alice@example.com","password":"`+localapi.DemoPassword+`"}`))
	req.Header.Set("Content-Type", "application/json")
	time.AfterFunc(5*time.Millisecond, cancel)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	tok, _ := newBrowser(t, d.API).login(localapi.DemoUsername, localapi.DemoPassword)
	huge := bytes.Repeat([]byte("a"), 11<<20)
	const form = "application/x-www-form-urlencoded"
	cases := []struct {
		name, method, path, ctype string
		body                      []byte
		headers                   []string
		status                    int
	}{
		{"malformed JSON", "POST", "/auth/login", "application/json", []byte(`{"username":`), nil, 400},
		{"JSON not an object", "POST", "/auth/login", "application/json", []byte(`["a"]`), nil, 400},
		{"wrong content type", "POST", "/auth/login", "text/plain", []byte(`{"username":"a","password":"b"}`), nil, 415},
		{"form body", "POST", "/auth/login", "application/x-www-form-urlencoded", []byte(`username=a&password=b`), nil, 415},
		{"missing password", "POST", "/auth/login", "application/json", []byte(`{"username":"alice@example.com"}`), nil, 400},
		{"missing fields", "POST", "/auth/login", "application/json", []byte(`{}`), nil, 400},
		{"empty body", "POST", "/auth/login", "application/json", nil, nil, 400},
		{"oversized body (over the 8 KiB limit)", "POST", "/auth/login", "application/json", bytes.Repeat([]byte(" "), 9<<10), nil, 413},
		{"body over API Gateway's 10 MB", "POST", "/auth/login", "application/json", huge, nil, 413},
		{"binary body", "POST", "/auth/login", "application/octet-stream", []byte{0xff, 0x00, 0x01}, nil, 415},
		{"wrong password", "POST", "/auth/login", "application/json", []byte(`{"username":"alice@example.com","password":"wrong password!"}`), nil, 401},
		{"unknown route", "GET", "/nope", "", nil, nil, 404},
		{"wrong method on login", "GET", "/auth/login", "", nil, nil, 404},
		{"wrong method on me", "DELETE", "/me", "", nil, nil, 404},
		{"trailing slash", "GET", "/me/", "", nil, bearer(tok), 404},
		{"protected route without a token", "GET", "/me", "", nil, nil, 401},
		{"protected route with a bad token", "GET", "/me", "", nil, bearer("not.a.jwt"), 403},
		{"token with the wrong scheme", "GET", "/me", "", nil, []string{"Authorization", "Basic " + tok}, 403},
		{"logout-all without a token", "POST", "/auth/logout-all", "", nil, nil, 401},
		{"refresh without a cookie", "POST", "/auth/refresh", "", nil, nil, 401},
		{"refresh with a forged cookie", "POST", "/auth/refresh", "", nil, []string{"Cookie", "__Secure-refresh_token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, 401},
		{"refresh from another site", "POST", "/auth/refresh", "", nil, []string{"Origin", "https://evil.example", "Cookie", "__Secure-refresh_token=x.y"}, 403},
		{"token endpoint: password grant", "POST", "/auth/refresh", form, []byte("grant_type=password&username=a&password=b"), nil, 400},
		{"token endpoint: no grant type", "POST", "/auth/refresh", form, []byte("refresh_token=x"), nil, 400},
		{"token endpoint: forged refresh token", "POST", "/auth/refresh", form, []byte("grant_type=refresh_token&refresh_token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), nil, 400},
		{"token endpoint: client authentication", "POST", "/auth/refresh", form, []byte("grant_type=refresh_token&refresh_token=x"), []string{"Authorization", "Basic d2ViOg=="}, 401},
		{"revoke without a token", "POST", "/auth/revoke", form, []byte("token_type_hint=access_token"), nil, 400},
		{"revoke with a JSON body", "POST", "/auth/revoke", "application/json", []byte(`{"token":"x"}`), nil, 415},
		{"wrong method on revoke", "GET", "/auth/revoke", "", nil, nil, 404},
		{"introspection unsigned", "POST", "/auth/introspect", form, []byte("token=x"), nil, 403},
		{"introspection with a bearer token", "POST", "/auth/introspect", form, []byte("token=x"), bearer(tok), 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBrowser(t, d.API) // an empty cookie jar
			r := b.do(c.method, c.path, c.ctype, c.body, c.headers...)
			if r.status != c.status {
				t.Errorf("status %d %s, want %d", r.status, r.body, c.status)
			}
			if r.status >= 500 {
				t.Errorf("a server error for a client's mistake: %d %s", r.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
			m := r.json(t)
			if m["error"] == nil && m["message"] == nil {
				t.Errorf("no error in %s", r.body)
			}
		})
	}
}

// TestDevStopsEveryChild: Ctrl-C ends the emulators, the functions and the
// local servers; the endpoints file goes; a second scripts/dev on the same
// state folder is refused; the banner's create-user line finds the running
// scripts/dev by itself; state survives a restart (key, tables, sessions,
// users).
func TestDevStopsEveryChild(t *testing.T) {
	d := testenv.StartDev(t)
	ports := []string{}
	for _, k := range []string{"API_URL", "AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_DYNAMODB"} {
		u, _ := url.Parse(d.Vars[k])
		ports = append(ports, u.Host)
	}
	children := processesUnder(t, d.State)
	root, _ := localaws.RepoRoot()
	tpl, err := localapi.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(children) < len(tpl.Functions) { // an emulator per function, at least
		t.Fatalf("found %d processes working in %s, want every emulator: %v", len(children), d.State, children)
	}
	b := newBrowser(t, d.API)
	tok, _ := b.login(localapi.DemoUsername, localapi.DemoPassword)

	// A second run on the same state folder stops before touching anything.
	second := exec.Command(filepath.Join(root, "scripts", "dev"), "--reset", "--port", "0", "--kms-port", "0", "--dynamodb-port", "0", "--state", d.State)
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another scripts/dev runs on") {
		t.Errorf("a second scripts/dev on the same state: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(d.State, "endpoints.env")); err != nil {
		t.Errorf("the second run touched the first one's state: %v", err)
	}

	// The banner's create-user line: scripts/create-user finds the running
	// scripts/dev by itself, with nothing else of the caller's environment
	// (no table names, no endpoints, an empty HOME, a profile that exists
	// nowhere).
	m := regexp.MustCompile(`(?m)^Add a user: +(scripts/create-user .*)$`).FindStringSubmatch(d.Out.String())
	if m == nil {
		t.Fatalf("the banner has no create-user line:\n%s", d.Out)
	}
	home := t.TempDir()
	goEnv := func(k string) string {
		v, _ := exec.Command("go", "env", k).Output()
		return strings.TrimSpace(string(v))
	}
	create := exec.Command("bash", "-c", `printf 'bob password 1\n' | `+m[1]+` -password-stdin`)
	create.Dir = root
	create.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "GOCACHE=" + goEnv("GOCACHE"),
		"GOMODCACHE=" + goEnv("GOMODCACHE"), "GOPATH=" + goEnv("GOPATH"), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local",
		"AWS_PROFILE=nobody-here"}
	if out, err := create.CombinedOutput(); err != nil || !strings.Contains(string(out), "the local stack of scripts/dev") {
		t.Fatalf("the banner's create-user line %q: %v\n%s", m[1], err, out)
	}
	if _, r := newBrowser(t, d.API).login("bob@example.com", "bob password 1"); r.status != 200 {
		t.Errorf("the created user cannot log in: %d", r.status)
	}

	d.Stop(t)
	if code := d.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("scripts/dev exited %d after SIGINT, want 0:\n%s", code, d.ErrOut)
	}
	if _, err := os.Stat(filepath.Join(d.State, "endpoints.env")); !os.IsNotExist(err) {
		t.Errorf("endpoints.env left behind: %v", err)
	}
	for _, p := range children {
		if err := syscall.Kill(p, 0); err == nil {
			t.Errorf("process %d still runs after Ctrl-C", p)
		}
	}
	for _, addr := range ports {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Ctrl-C", addr)
		}
	}

	// Started again on the same state: the same key, and the session of
	// before the restart refreshes.
	d2 := testenv.StartDevOn(t, d.State)
	b2 := newBrowser(t, d2.API)
	b2.setRefreshCookie(b.refreshCookie().Value)
	r := b2.do("POST", "/auth/refresh", "", nil)
	if r.status != 200 {
		t.Fatalf("refresh after a restart: %d %s", r.status, r.body)
	}
	tok2, _ := r.json(t)["access_token"].(string)
	header := func(tok string) string { return strings.Split(tok, ".")[0] }
	if header(tok) != header(tok2) {
		t.Error("the signing key changed across a restart without --reset")
	}
	if _, r := b2.login("bob@example.com", "bob password 1"); r.status != 200 {
		t.Errorf("a user created before the restart cannot log in: %d", r.status)
	}
}

// TestResetRefusesAForeignFolder: --reset deletes only a scripts/dev state
// folder.
func TestResetRefusesAForeignFolder(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "precious.txt")
	os.WriteFile(keep, []byte("x"), 0o600)
	root, _ := localaws.RepoRoot()
	out, err := exec.Command(filepath.Join(root, "scripts", "dev"), "--reset", "--state", dir, "--port", "0",
		"--kms-port", "0", "--dynamodb-port", "0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not a scripts/dev state folder") {
		t.Errorf("scripts/dev --reset on a foreign folder: %v\n%s", err, out)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("--reset deleted a file it does not own: %v", err)
	}
}

// processesUnder lists the processes whose working directory is inside dir
// (each emulator runs in its function's build folder).
func processesUnder(t *testing.T, dir string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("this test reads /proc (Linux): %v", err)
	}
	var pids []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err == nil && strings.HasPrefix(cwd, dir+string(filepath.Separator)) {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	return pids
}

// bannerTotal is the total in the banner's "Local API ready in 12.3s".
func bannerTotal(t *testing.T, banner string) time.Duration {
	t.Helper()
	m := regexp.MustCompile(`Local API ready in ([0-9.]+)s \(since scripts/dev started\)`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no \"Local API ready in ...s (since scripts/dev started)\" in the banner:\n%s", banner)
	}
	d, err := time.ParseDuration(m[1] + "s")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkStartup: scripts/dev's progress lines (stderr is not a terminal
// here: plain lines) name every step with its time and the total, the
// tools' install included; the banner's total counts from the script's
// start: no less than the install's own total, no more than the test saw.
func checkStartup(t *testing.T, d *testenv.DevStack) {
	t.Helper()
	total := bannerTotal(t, d.Out.String())
	if limit := time.Since(d.Started) + 50*time.Millisecond; total > limit { // rounded to a tenth
		t.Errorf("banner's total %s, more than the %s since the test started scripts/dev", total, limit)
	}
	errOut := d.ErrOut.String()
	install := regexp.MustCompile(`(?m)^install-tools: \[(\d+)/(\d+) done, (\d+)s\] [^:]+: done in \d+s`).FindAllStringSubmatch(errOut, -1)
	if len(install) == 0 {
		t.Fatalf("no install-tools progress line (install-tools: [n/m done, Ns] STEP: done in Ks) on stderr:\n%s", errOut)
	}
	last := install[len(install)-1]
	if last[1] != last[2] {
		t.Errorf("install-tools' last progress line is %q, want every step done", last[0])
	}
	if n, _ := time.ParseDuration(last[3] + "s"); total < n {
		t.Errorf("banner's total %s is less than install-tools' own %s: it does not count from the script's start", total, n)
	}
	// The runner's build alone before the runner starts; local-kms and
	// aws-lambda-rie are installed by it, beside the functions' build.
	if !regexp.MustCompile(`(?m)^install-tools: \[\d+/\d+ done, \d+s\] Go build of the runner \(devserver; `).MatchString(errOut) {
		t.Errorf("scripts/dev's install-tools did more Go builds than the runner's (no --runner-first):\n%s", errOut)
	}
	for _, step := range []string{"installing local-kms and aws-lambda-rie \\(scripts/install-tools --dev --go-tools\\)",
		"building \\d+ functions \\(go install\\)", "starting local KMS and DynamoDB Local", "creating the signing keys, the tables and the demo user", "starting \\d+ functions \\(aws-lambda-rie, init\\)"} {
		re := regexp.MustCompile(`(?m)^dev: ` + step + `: done in \d+\.\ds \(total \d+\.\ds\)`)
		if !re.MatchString(errOut) {
			t.Errorf("no progress line %q on stderr:\n%s", re, errOut)
		}
	}
}
