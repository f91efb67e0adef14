package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/shared/dpop"
)

// dpopDatabase is the IndexedDB database of the demo page's DPoP key
// (auth-client.js: "<name>:dpop", name "lambda-auth").
const dpopDatabase = "lambda-auth:dpop"

// storedDPoPKey is a page expression: the key pair the client stored, or
// null.
const storedDPoPKey = `new Promise((resolve, reject) => {
  const open = indexedDB.open('` + dpopDatabase + `');
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    if (!db.objectStoreNames.contains('keys')) { db.close(); resolve(null); return; }
    const get = db.transaction('keys').objectStore('keys').get('current');
    get.onsuccess = () => { db.close(); resolve(get.result || null); };
    get.onerror = () => reject(get.error);
  };
})`

// lastRequest is the last request the tab sent to method path.
func (b *tab) lastRequest(method, path string) apiRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.reqs) - 1; i >= 0; i-- {
		if r := b.reqs[i]; r.method == method && r.path == path {
			return r
		}
	}
	return apiRequest{}
}

// tokenJKT is the cnf.jkt of an access token (RFC 9449 6.1), read without
// checking its signature.
func tokenJKT(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Cnf struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.Cnf.JKT
}

// thiefProof is a DPoP proof (RFC 9449 4.2) signed by key, a key of the
// thief's own: well-formed, fresh, for the right method, URL and token.
func thiefProof(t *testing.T, key *ecdsa.PrivateKey, method, url, accessToken, nonce string) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	coord := func(n interface{ FillBytes([]byte) []byte }) string {
		return base64.RawURLEncoding.EncodeToString(n.FillBytes(make([]byte, 32)))
	}
	claims := map[string]any{"jti": randomText(), "htm": method, "htu": url, "iat": time.Now().Unix()}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	input := enc(map[string]any{"typ": "dpop+jwt", "alg": "ES256",
		"jwk": map[string]string{"kty": "EC", "crv": "P-256", "x": coord(key.X), "y": coord(key.Y)}}) + "." + enc(claims)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...))
}

// send is one request from Go with the given headers; it returns the
// status and the answer's DPoP-Nonce.
func (e *browserEnv) send(t *testing.T, method, path string, headers map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.api+path, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("DPoP-Nonce")
}

// testDPoPBoundSession (issue 20): the demo page signs in and its session
// is bound to the browser's DPoP key (RFC 9449): the page shows the key's
// thumbprint, which is the token's cnf.jkt; GET /me goes with
// Authorization: DPoP and a proof; a refresh keeps the binding; the key
// cannot be exported from the page. The access token copied out of the
// page is refused from Go as a bearer token, as a DPoP token without a
// proof, with the page's own proof replayed, and with a proof of the
// thief's key; the refresh cookie copied out is refused without the key,
// and that refusal does not end the session (not counted as reuse). A
// reload keeps the session working: the key comes back from IndexedDB.
func (e *browserEnv) testDPoPBoundSession(t *testing.T) {
	b := e.device(t, "")
	b.openDemo("")
	b.signIn()
	b.click("whoami")
	b.waitUntil("who am I answered", 5*time.Second, func() bool { return strings.Contains(b.text("whoami-out"), localapi.DemoUserID) })
	me := b.lastRequest("GET", "/me")
	token, ok := strings.CutPrefix(me.authorization, "DPoP ")
	if !ok || me.dpop == "" {
		t.Fatalf("GET /me went with Authorization %q and a proof %t, want the DPoP scheme and a proof", strings.SplitN(me.authorization, " ", 2)[0], me.dpop != "")
	}
	jkt := tokenJKT(t, token)
	if jkt == "" {
		t.Fatal("the access token has no cnf.jkt: it is not bound to the page's key")
	}
	if got := b.text("binding"); got != "DPoP key "+jkt {
		t.Errorf("the page shows the binding %q, want the key's thumbprint %s", got, jkt)
	}
	// The key, as the page holds it: the proof's jwk has its thumbprint.
	if got := b.js(storedDPoPKey + ".then((p) => crypto.subtle.exportKey('jwk', p.publicKey)).then((j) => JSON.stringify({ crv: j.crv, kty: j.kty, x: j.x, y: j.y }))"); thumbprintOf(t, got) != jkt {
		t.Errorf("the stored key's thumbprint is not the token's cnf.jkt %s", jkt)
	}
	for _, format := range []string{"jwk", "pkcs8"} {
		if got := b.js(storedDPoPKey + ".then((p) => crypto.subtle.exportKey('" + format + "', p.privateKey)).then(() => 'exported', (e) => e.name)"); got != "InvalidAccessError" {
			t.Errorf("exportKey(%s) of the page's private key: %s, want InvalidAccessError", format, got)
		}
	}

	// The token out of the page, from Go.
	thief, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	meURL := e.api + "/me"
	for _, c := range []struct {
		what    string
		headers map[string]string
	}{
		{"as a bearer token", map[string]string{"Authorization": "Bearer " + token}},
		{"as a DPoP token without a proof", map[string]string{"Authorization": "DPoP " + token}},
		{"with the page's proof replayed", map[string]string{"Authorization": "DPoP " + token, "DPoP": me.dpop}},
		{"with a proof of the thief's key", map[string]string{"Authorization": "DPoP " + token, "DPoP": thiefProof(t, thief, "GET", meURL, token, "")}},
	} {
		status, nonce := e.send(t, "GET", "/me", c.headers)
		if status == 401 && nonce != "" && c.headers["DPoP"] != "" && c.headers["DPoP"] != me.dpop {
			// The authorizer wants its nonce: the thief can have one too.
			c.headers["DPoP"] = thiefProof(t, thief, "GET", meURL, token, nonce)
			status, _ = e.send(t, "GET", "/me", c.headers)
		}
		if status != 401 && status != 403 {
			t.Errorf("GET /me with the page's token %s: %d, want it refused", c.what, status)
		}
	}

	// The refresh cookie out of the browser: refused without the key.
	got, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{e.api + "/auth/refresh"}})
	if err != nil || len(got.Cookies) != 1 {
		t.Fatalf("the refresh cookie: %v (%v)", got, err)
	}
	cookie := got.Cookies[0].Name + "=" + got.Cookies[0].Value
	e.secret(got.Cookies[0].Value)
	for _, c := range []struct {
		what    string
		headers map[string]string
	}{
		{"without a proof", map[string]string{"Cookie": cookie, "Origin": e.api}},
		{"with a proof of the thief's key", map[string]string{"Cookie": cookie, "Origin": e.api, "DPoP": thiefProof(t, thief, "POST", e.api+"/auth/refresh", "", "")}},
	} {
		status, nonce := e.send(t, "POST", "/auth/refresh", c.headers)
		if status == 400 && nonce != "" && c.headers["DPoP"] != "" {
			c.headers["DPoP"] = thiefProof(t, thief, "POST", e.api+"/auth/refresh", "", nonce)
			status, _ = e.send(t, "POST", "/auth/refresh", c.headers)
		}
		if status != 400 && status != 401 {
			t.Errorf("POST /auth/refresh with the page's cookie %s: %d, want it refused", c.what, status)
		}
	}

	// The page goes on: its refresh proves the key, the binding stays.
	jti := b.text("token-id")
	b.click("refresh")
	b.waitUntil("the page refreshes", 5*time.Second, func() bool { return b.text("token-id") != jti })
	if !b.signedIn() {
		t.Fatal("the page is signed out: a refresh refused for want of the key ended the session")
	}
	if got := b.text("binding"); got != "DPoP key "+jkt {
		t.Errorf("after a refresh the page shows %q, want the same key %s", got, jkt)
	}

	// A reload: the session comes back with the key from IndexedDB.
	b.openDemo("")
	if !b.signedIn() {
		t.Fatal("signed out after a reload")
	}
	before := b.requests("GET", "/me")
	b.click("whoami")
	b.waitUntil("who am I answered after the reload", 5*time.Second, func() bool {
		return b.requests("GET", "/me") > before && strings.Contains(b.text("whoami-out"), localapi.DemoUserID)
	})
	if got := tokenJKT(t, accessToken(b.lastRequest("GET", "/me").authorization)); got != jkt {
		t.Errorf("after a reload the token is bound to %s, want %s (the same key)", got, jkt)
	}
}

// thumbprintOf is the RFC 7638 thumbprint of a public JWK given as JSON.
func thumbprintOf(t *testing.T, jwkJSON string) string {
	t.Helper()
	var j dpop.JWK
	if err := json.Unmarshal([]byte(jwkJSON), &j); err != nil {
		t.Fatalf("jwk %s: %v", jwkJSON, err)
	}
	tp, err := dpop.Thumbprint(j)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}
