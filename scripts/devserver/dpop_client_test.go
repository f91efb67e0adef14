package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/shared/dpop"
)

// proofServer checks, with shared/dpop's Verifier, every DPoP proof the
// browser client sends: at its token endpoint (/auth/login, /auth/refresh,
// /auth/logout) and at one resource (/me), both requiring server nonces
// (RFC 9449 8 and 9), so that the client's first call to each meets a
// use_dpop_nonce challenge. It stands in for the API only where the client
// is checked: the proof format, the nonce retries and which key signs; the
// API's own checks are TestBrowser's (DPoPBoundSession). Tokens are JWT-shaped,
// unsigned (the client reads their claims, never their signature).
type proofServer struct {
	t        *testing.T
	origin   string
	verifier *dpop.Verifier
	nonces   *dpop.Nonces

	mu         sync.Mutex
	sessions   map[string]string // refresh cookie -> the thumbprint it is bound to
	tokens     map[string]string // access token -> cnf.jkt
	proofs     []string          // every proof accepted
	challenges map[string]int    // path -> use_dpop_nonce answers
	refused    []string          // what was refused and why
}

func newProofServer(t *testing.T, origin string) *proofServer {
	t.Helper()
	secret := make([]byte, dpop.MinNonceSecretBytes)
	rand.Read(secret)
	ns, err := dpop.NewNonces(secret, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	v, err := dpop.NewVerifier(dpop.WithNonces(ns), dpop.WithReplay(dpop.NewMemoryReplay(10_000, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return &proofServer{t: t, origin: origin, verifier: v, nonces: ns, sessions: map[string]string{}, tokens: map[string]string{},
		challenges: map[string]int{}}
}

func randomText() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// accessToken is a JWT-shaped token bound to jkt.
func (s *proofServer) accessToken(jkt string) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	tok := enc(map[string]string{"alg": "ES256", "typ": "at+jwt"}) + "." + enc(map[string]any{
		"sub": "user-1", "sid": "session-1", "jti": randomText(), "scope": "openid", "exp": time.Now().Add(15 * time.Minute).Unix(),
		"cnf": map[string]string{"jkt": jkt},
	}) + ".c2ln"
	s.tokens[tok] = jkt
	return tok
}

// check verifies the request's single DPoP proof; on a refusal it answers
// and returns nil.
func (s *proofServer) check(w http.ResponseWriter, r *http.Request, req dpop.Request, resource bool) *dpop.Proof {
	req.Method, req.URL = r.Method, s.origin+r.URL.RequestURI()
	values := r.Header.Values("DPoP")
	var p *dpop.Proof
	err := errors.New("no single DPoP header")
	if len(values) == 1 {
		p, err = s.verifier.Verify(r.Context(), values[0], req)
	}
	if err == nil {
		s.proofs = append(s.proofs, values[0])
		w.Header().Set("DPoP-Nonce", s.nonces.NewNonce(time.Now()))
		return p
	}
	w.Header().Set("DPoP-Nonce", s.nonces.NewNonce(time.Now()))
	w.Header().Set("Content-Type", "application/json")
	switch {
	case errors.Is(err, dpop.ErrUseNonce) && resource:
		s.challenges[r.URL.Path]++
		w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`)
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"message":"Unauthorized"}`))
	case errors.Is(err, dpop.ErrUseNonce):
		s.challenges[r.URL.Path]++
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof"}`))
	default:
		// As the API answers: 400 invalid_dpop_proof at the token endpoint
		// (RFC 9449 5), 401 at a resource.
		s.refused = append(s.refused, fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, err))
		status := http.StatusBadRequest
		if resource {
			status = http.StatusUnauthorized
		}
		w.WriteHeader(status)
		w.Write([]byte(`{"error":"invalid_dpop_proof","message":"` + strings.ReplaceAll(err.Error(), `"`, `'`) + `"}`))
	}
	return nil
}

func (s *proofServer) tokenAnswer(w http.ResponseWriter, jkt string) {
	cookie := randomText()
	s.sessions[cookie] = jkt
	http.SetCookie(w, &http.Cookie{Name: "refresh", Value: cookie, Path: "/auth", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": s.accessToken(jkt), "token_type": "DPoP", "expires_in": 900})
}

func (s *proofServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cookie, _ := r.Cookie("refresh")
	switch r.Method + " " + r.URL.Path {
	case "POST /auth/login":
		var body struct{ Password string }
		json.NewDecoder(r.Body).Decode(&body)
		if p := s.check(w, r, dpop.Request{}, false); p != nil {
			if body.Password != "pw" {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"error":"invalid_credentials","message":"wrong username or password"}`))
				return
			}
			s.tokenAnswer(w, p.JKT)
		}
	case "POST /auth/refresh":
		if cookie == nil || s.sessions[cookie.Value] == "" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"invalid_refresh_token"}`))
			return
		}
		if p := s.check(w, r, dpop.Request{BoundKey: s.sessions[cookie.Value]}, false); p != nil {
			delete(s.sessions, cookie.Value)
			s.tokenAnswer(w, p.JKT)
		}
	case "POST /auth/logout":
		if cookie != nil && s.check(w, r, dpop.Request{BoundKey: s.sessions[cookie.Value]}, false) != nil {
			delete(s.sessions, cookie.Value)
			w.WriteHeader(http.StatusNoContent)
		}
	case "GET /me", "POST /me":
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "DPoP ")
		if !ok || s.tokens[tok] == "" {
			s.refused = append(s.refused, "/me: no DPoP token: "+strings.SplitN(r.Header.Get("Authorization"), " ", 2)[0])
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if p := s.check(w, r, dpop.Request{AccessToken: tok, BoundKey: s.tokens[tok]}, true); p != nil {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"jkt": p.JKT})
		}
	default:
		http.NotFound(w, r)
	}
}

// TestDPoPClientProofs runs the browser client in headless Chromium against
// proofServer: every proof it signs at login, refresh, logout and a
// resource passes shared/dpop's Verifier (typ, ES256, a public jwk only,
// htm, htu without query or fragment, iat, a jti never used before, ath,
// the server's nonce after one use_dpop_nonce challenge at each endpoint,
// the key the session is bound to); the key is non-extractable; a reload
// finds the same key in IndexedDB and the session goes on; sign-out deletes
// it and the next login makes a new one.
func TestDPoPClientProofs(t *testing.T) {
	chrome := chromiumPath(t)
	root, err := localaws.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	client, err := os.ReadFile(filepath.Join(root, "shared", "web", "auth-client.js"))
	if err != nil {
		t.Fatal(err)
	}
	ln := listenLoopback(t)
	origin := "http://127.0.0.1:" + port(ln)
	api := newProofServer(t, origin)
	page := `<!doctype html><meta charset="utf-8"><title>dpop</title><body>
<script type="module">
import { createAuthClient, dpopAvailable, jwkThumbprint } from '/auth-client.js';
window.dpopAvailable = dpopAvailable();
window.jwkThumbprint = jwkThumbprint;
window.auth = createAuthClient({ name: 'dpop-test' });
auth.addEventListener('signedout', (e) => { window.signedOut = e.detail.reason; });
window.storedKey = () => new Promise((resolve, reject) => {
  const open = indexedDB.open('dpop-test:dpop');
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    if (!db.objectStoreNames.contains('keys')) { db.close(); resolve(null); return; }
    const get = db.transaction('keys').objectStore('keys').get('current');
    get.onsuccess = () => { db.close(); resolve(get.result || null); };
    get.onerror = () => reject(get.error);
  };
});
window.ready = true;
</script>`
	mux := http.NewServeMux()
	mux.Handle("/auth/", api)
	mux.Handle("/me", api)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(page))
		case "/auth-client.js":
			w.Header().Set("Content-Type", "text/javascript")
			w.Write(client)
		default:
			http.NotFound(w, r)
		}
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU)...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if _, err := chromedp.CallBrowser(browser, browserVersion, cdp.Empty{}); err != nil {
		t.Fatalf("start %s: %v", chrome, err)
	}
	e := &browserEnv{api: origin, browser: browser}
	b := e.device(t, "")
	open := func() {
		b.do(chromedp.Navigate(origin + "/"))
		b.waitUntil("the page loads", 10*time.Second, func() bool { return b.js("window.ready === true") == "true" })
	}
	open()
	if got := b.js("window.dpopAvailable"); got != "true" {
		t.Fatalf("dpopAvailable() = %s on http://127.0.0.1 (a secure context)", got)
	}

	// Login: a challenge, then a proof with the nonce.
	b.js("auth.login('alice', 'pw')")
	state := func() (s struct{ TokenType, KeyThumbprint string }) {
		json.Unmarshal([]byte(b.js("JSON.stringify(auth.state)")), &s)
		return s
	}
	first := state()
	if first.TokenType != "DPoP" || first.KeyThumbprint == "" {
		t.Fatalf("state after login %+v, want a DPoP token and its key's thumbprint", first)
	}
	stored := b.js("storedKey().then((p) => JSON.stringify({ type: p.privateKey.type, extractable: p.privateKey.extractable, alg: p.privateKey.algorithm.name, crv: p.privateKey.algorithm.namedCurve }))")
	if stored != `{"type":"private","extractable":false,"alg":"ECDSA","crv":"P-256"}` {
		t.Errorf("the key in IndexedDB: %s, want a non-extractable ECDSA P-256 private key", stored)
	}
	for _, format := range []string{"jwk", "pkcs8"} {
		got := b.js("storedKey().then((p) => crypto.subtle.exportKey('" + format + "', p.privateKey)).then(() => 'exported', (e) => e.name)")
		if got != "InvalidAccessError" {
			t.Errorf("exportKey(%s) of the private key: %s, want InvalidAccessError (not extractable)", format, got)
		}
	}

	// Resource calls: a challenge at the first, then the kept nonce; the
	// query and fragment are not in htu; a POST's htm.
	for _, call := range []string{"auth.fetch('/me?page=2#top')", "auth.fetch('/me')", "auth.fetch('/me', { method: 'post', body: 'x' })"} {
		if got := b.js(call + ".then((r) => r.status + ' ' + r.headers.get('content-type'))"); got != "200 application/json" {
			t.Errorf("%s: %s", call, got)
		}
	}
	// authHeaders, for a call the page makes itself.
	if got := b.js("auth.authHeaders('GET', '/me').then((h) => fetch('/me', { headers: h })).then((r) => r.status)"); got != "200" {
		t.Errorf("fetch with authHeaders: %s", got)
	}
	// A failed login leaves the stored key, and the session bound to it, alone.
	if got := b.js("auth.login('alice', 'wrong').then(() => 'signed in', (e) => e.code)"); got != "invalid_credentials" {
		t.Errorf("a login with a wrong password: %s", got)
	}
	if got := b.js(storedKeyThumbprint); got != first.KeyThumbprint {
		t.Errorf("after a failed login the stored key is %s, want %s", got, first.KeyThumbprint)
	}
	b.js("auth.refresh()")
	if s := state(); s.KeyThumbprint != first.KeyThumbprint {
		t.Errorf("after a refresh the token is bound to %s, want %s", s.KeyThumbprint, first.KeyThumbprint)
	}

	// A reload: the key comes back from IndexedDB, the refresh proves it.
	open()
	if got := b.js("auth.start()"); got != "true" {
		t.Fatalf("start after a reload: %s", got)
	}
	if s := state(); s.KeyThumbprint != first.KeyThumbprint {
		t.Errorf("after a reload the token is bound to %s, want %s (the key from IndexedDB)", s.KeyThumbprint, first.KeyThumbprint)
	}
	if got := b.js("auth.fetch('/me').then((r) => r.json()).then((j) => j.jkt)"); got != first.KeyThumbprint {
		t.Errorf("/me after a reload proved key %s, want %s", got, first.KeyThumbprint)
	}

	// Sign-out deletes the key; the next login makes another.
	b.js("auth.logout()")
	b.waitUntil("the key is deleted", 5*time.Second, func() bool { return b.js("storedKey()") == "null" })
	b.js("auth.login('alice', 'pw')")
	if s := state(); s.KeyThumbprint == "" || s.KeyThumbprint == first.KeyThumbprint {
		t.Errorf("a new login is bound to %q, want a new key (not %s)", s.KeyThumbprint, first.KeyThumbprint)
	}

	// A sign-in at once after a sign-out (a passkey autofill answers that
	// fast) keeps its new key: the sign-out's delete of the old key must
	// not take the new one with it, whichever reaches IndexedDB first.
	for i := range 12 {
		got := b.js(`auth.logout().then(() => auth.login('alice', 'pw'))
  .then(() => new Promise((r) => setTimeout(r, 100)))
  .then(() => ` + storedKeyThumbprint + `).then((stored) => stored === auth.state.keyThumbprint ? 'kept' : 'stored ' + stored + ', token bound to ' + auth.state.keyThumbprint, (e) => 'error ' + e)`)
		if got != "kept" {
			t.Fatalf("sign-in %d right after a sign-out: %s", i+1, got)
		}
		if got := b.js("auth.fetch('/me').then((r) => r.status)"); got != "200" {
			t.Fatalf("sign-in %d right after a sign-out: /me answers %s", i+1, got)
		}
	}

	api.mu.Lock()
	if len(api.refused) > 0 {
		t.Errorf("the server refused: %q", api.refused)
	}
	api.mu.Unlock()

	// The browser's storage cleared: the reloaded page has no key, its
	// refresh is refused (400 invalid_dpop_proof) and it signs out, saying
	// why, instead of failing to start.
	b.js("new Promise((resolve, reject) => { const r = indexedDB.deleteDatabase('dpop-test:dpop'); r.onsuccess = resolve; r.onerror = reject; r.onblocked = resolve; })")
	open()
	if got := b.js("auth.start().then(String, (e) => 'rejected ' + e.code)"); got != "false" {
		t.Errorf("start with the key gone: %s, want false (signed out)", got)
	}
	if got := b.js("window.signedOut"); got != "key-lost" {
		t.Errorf("signed out for %q, want key-lost", got)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.refused) != 1 || !strings.Contains(api.refused[0], "POST /auth/refresh") {
		t.Errorf("refused %q, want the keyless refresh only", api.refused)
	}
	// Nonces live in the page's memory: one challenge per page load at the
	// token endpoint (the first login; the refresh after the reload) and
	// one at the resource; after that the client sends the nonce it was
	// given (the second login too).
	if got := api.challenges; got["/auth/login"] != 1 || got["/auth/refresh"] != 1 || got["/me"] != 2 || got["/auth/logout"] != 0 {
		t.Errorf("use_dpop_nonce challenges %v, want one at the first login, one at the refresh after the reload, one at /me per page load", got)
	}
	if len(api.proofs) < 10 {
		t.Fatalf("%d proofs accepted, want 10 at least", len(api.proofs))
	}
	for _, p := range api.proofs {
		checkProofShape(t, p)
	}
}

// storedKeyThumbprint is a page expression: the thumbprint of the stored
// key, computed by the client's own jwkThumbprint.
const storedKeyThumbprint = `storedKey().then((p) => crypto.subtle.exportKey('jwk', p.publicKey)).then((j) => jwkThumbprint(j))`

// checkProofShape checks what Verify leaves to the client's choice: the
// header holds only typ, alg and jwk (kty, crv, x, y: no private member,
// nothing else), and htu has no query or fragment.
func checkProofShape(t *testing.T, proof string) {
	t.Helper()
	parts := strings.Split(proof, ".")
	var header struct {
		Typ, Alg string
		JWK      map[string]string
	}
	var all map[string]json.RawMessage
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if err := json.Unmarshal(hb, &header); err != nil || json.Unmarshal(hb, &all) != nil || len(all) != 3 || header.Typ != "dpop+jwt" ||
		header.Alg != "ES256" || len(header.JWK) != 4 || header.JWK["kty"] != "EC" || header.JWK["crv"] != "P-256" {
		t.Errorf("proof header %s", hb)
	}
	var claims struct {
		HTU string `json:"htu"`
		JTI string `json:"jti"`
	}
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(cb, &claims); err != nil || strings.ContainsAny(claims.HTU, "?#") || len(claims.JTI) < 22 {
		t.Errorf("proof claims %s: htu with a query or fragment, or a short jti", cb)
	}
}
