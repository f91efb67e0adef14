// Package interop_test proves the service with clients nobody here wrote,
// against a real scripts/dev, configured only from its issuer's metadata:
// Node's jose and aws-jwt-verify (infra/interop, run by node) and
// oauth4webapi's DPoP over a DPoP-bound session, Go's
// golang.org/x/oauth2 refreshing through the token endpoint, golang-jwt
// with keyfunc, an RFC 7009 revocation seen by RFC 7662 introspection and
// by the authorizer, and the checks API Gateway's JWT authorizer documents
// for the metadata and the JWKS. Every refusal is asserted by the client's
// own error message.
package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/testenv"
)

// audience is the local stack's (localapi.LocalParams).
const audience = "https://api.example.com"

// metadata is what the clients read of /.well-known/openid-configuration.
type metadata struct {
	Issuer                string   `json:"issuer"`
	JWKSURI               string   `json:"jwks_uri"`
	TokenEndpoint         string   `json:"token_endpoint"`
	RevocationEndpoint    string   `json:"revocation_endpoint"`
	IntrospectionEndpoint string   `json:"introspection_endpoint"`
	Algorithms            []string `json:"id_token_signing_alg_values_supported"`
	GrantTypes            []string `json:"grant_types_supported"`
}

func discover(t *testing.T, issuer string) metadata {
	t.Helper()
	var m metadata
	getJSON(t, issuer+"/.well-known/openid-configuration", &m)
	if m.Issuer != issuer {
		t.Fatalf("metadata issuer %q, want %q: RFC 8414 3.3 says a client must refuse it", m.Issuer, issuer)
	}
	return m
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// login is a non-browser login: the refresh token in the body.
func login(t *testing.T, api string) (access, refresh string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"username": localapi.DemoUsername, "password": localapi.DemoPassword, "refresh_token_in_body": true})
	resp, err := http.Post(api+"/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.RefreshToken == "" {
		t.Fatalf("login: %d %v", resp.StatusCode, err)
	}
	return out.AccessToken, out.RefreshToken
}

// me is GET /me through the local gateway and the Lambda authorizer.
func me(t *testing.T, api, access string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", api+"/me", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func tamper(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 5
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

// TestInteroperability runs every client against a scripts/dev with the
// template's default key (ES256) and one with an RSA key (RS256).
func TestInteroperability(t *testing.T) {
	for _, stack := range []struct {
		name, alg string
		args      []string
	}{
		{"ES256 (default)", "ES256", nil},
		// Server nonces at the token endpoint (RFC 9449 8): the DPoP
		// clients meet use_dpop_nonce.
		{"RS256, DPoP nonces", "RS256", []string{"--param", "SigningKeySpec=RSA_2048", "--param", "DPoPNonce=required"}},
	} {
		t.Run(stack.name, func(t *testing.T) {
			// A short grace window (1 s, so 1.5 s from the write) for the
			// reuse check of the x/oauth2 client.
			d := testenv.StartDev(t, append([]string{"--param", "RefreshReuseGrace=1s"}, stack.args...)...)
			issuer := d.API
			m := discover(t, issuer)
			if !slices.Equal(m.Algorithms, []string{stack.alg}) || !slices.Equal(m.GrantTypes, []string{"refresh_token"}) {
				t.Fatalf("metadata %+v", m)
			}
			nonces := slices.Contains(stack.args, "DPoPNonce=required")
			t.Run("node clients", func(t *testing.T) { nodeClients(t, issuer, stack.alg, nonces) })
			t.Run("golang-jwt and keyfunc", func(t *testing.T) { goJWT(t, d.API, m) })
			t.Run("x/oauth2 refresh", func(t *testing.T) { oauth2Refresh(t, d, m) })
			t.Run("revoke, introspect, authorizer", func(t *testing.T) { revokeAndIntrospect(t, d.API, m) })
			t.Run("API Gateway JWT authorizer's checks", func(t *testing.T) { jwtAuthorizerChecks(t, d.API, m, stack.alg) })
		})
	}
}

// nodeResult is one line of infra/interop/clients.mjs.
type nodeResult struct {
	Check  string          `json:"check"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  struct {
		Name, Code, Message string
		Status              int
		Error               string // an OAuth error code (oauth4webapi's ResponseBodyError)
	} `json:"error"`
}

// nodeClients runs jose and aws-jwt-verify (infra/interop/clients.mjs)
// on a live token.
func nodeClients(t *testing.T, issuer, alg string, nonces bool) {
	access, _ := login(t, issuer)
	root := testenv.RepoRoot(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: the interop test runs jose and aws-jwt-verify with it")
	}
	if _, err := os.Stat(filepath.Join(root, "infra", "interop", "node_modules", "jose")); err != nil {
		t.Fatal("infra/interop/node_modules is missing: run scripts/install-tools (scripts/test does)")
	}
	cmd := exec.Command(node, "clients.mjs")
	cmd.Dir = filepath.Join(root, "infra", "interop")
	cmd.Env = append(os.Environ(), "ISSUER="+issuer, "AUDIENCE="+audience, "TOKEN="+access,
		"LOGIN_USERNAME="+localapi.DemoUsername, "LOGIN_PASSWORD="+localapi.DemoPassword)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node clients.mjs: %v\n%s", err, stderr.String())
	}
	results := map[string]nodeResult{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r nodeResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("clients.mjs printed %q: %v", line, err)
		}
		results[r.Check] = r
	}
	var verified struct{ Sub, Alg string }
	for _, name := range []string{"discovery", "jose", "aws-jwt-verify"} {
		r, ok := results[name]
		if !ok || !r.OK {
			t.Errorf("%s: %+v, want it to verify the token", name, r)
			continue
		}
		if name != "discovery" {
			json.Unmarshal(r.Result, &verified)
			if verified.Sub != localapi.DemoUserID || verified.Alg != alg {
				t.Errorf("%s verified %s", name, r.Result)
			}
		}
	}
	// Each refusal, in the client's own words.
	for name, want := range map[string]struct{ code, message string }{
		"jose tampered signature":           {"ERR_JWS_SIGNATURE_VERIFICATION_FAILED", "signature verification failed"},
		"jose another audience":             {"ERR_JWT_CLAIM_VALIDATION_FAILED", `unexpected "aud" claim value`},
		"jose an hour later":                {"ERR_JWT_EXPIRED", `"exp" claim timestamp check failed`},
		"aws-jwt-verify default fetcher":    {"ERR_INVALID_PROTOCOL", `Protocol "http:" not supported. Expected "https:"`},
		"aws-jwt-verify tampered signature": {"", "Invalid signature"},
	} {
		r, ok := results[name]
		if !ok || r.OK || r.Error.Code != want.code || !strings.Contains(r.Error.Message, want.message) {
			t.Errorf("%s: %+v, want a refusal with code %q and message containing %q", name, r, want.code, want.message)
		}
	}
	oauth4webapiDPoP(t, results, nonces)
}

// oauth4webapiDPoP asserts the DPoP checks of clients.mjs: a login with a
// proof (jose's) binds the session to the key; oauth4webapi's DPoP handle
// over that key refreshes it (refresh_token grant, RFC 9449 5) and calls
// /me (7.1), each retried once on use_dpop_nonce as its documentation
// says; its handle over another key is refused at both, without ending
// the session; the bound token sent as a bearer token is refused (7.2).
// With nonces, the login and oauth4webapi's first refresh each meet one
// use_dpop_nonce; its second refresh sends the nonce the last answer gave.
func oauth4webapiDPoP(t *testing.T, results map[string]nodeResult, nonces bool) {
	t.Helper()
	var login struct {
		TokenType  string `json:"token_type"`
		CnfJKT     string `json:"cnf_jkt"`
		KeyJKT     string `json:"key_jkt"`
		NonceRetry bool   `json:"nonce_retry"`
	}
	if r := results["dpop login (jose proof)"]; !r.OK || json.Unmarshal(r.Result, &login) != nil ||
		login.TokenType != "DPoP" || login.CnfJKT == "" || login.CnfJKT != login.KeyJKT || login.NonceRetry != nonces {
		t.Fatalf("DPoP login: %+v (%+v), want token_type DPoP, cnf.jkt the key's thumbprint, a nonce retry %t", r, login, nonces)
	}
	firstAttempts := 1
	if nonces {
		firstAttempts = 2
	}
	var refreshed struct {
		TokenType string `json:"token_type"`
		CnfJKT    string `json:"cnf_jkt"`
		HandleJKT string `json:"handle_jkt"`
		Rotated   bool   `json:"rotated"`
		Attempts  int    `json:"attempts"`
	}
	if r := results["oauth4webapi dpop refresh"]; !r.OK || json.Unmarshal(r.Result, &refreshed) != nil || refreshed.TokenType != "dpop" ||
		refreshed.CnfJKT != login.KeyJKT || refreshed.HandleJKT != login.KeyJKT || !refreshed.Rotated || refreshed.Attempts != firstAttempts {
		t.Errorf("oauth4webapi refresh: %+v (%+v), want a rotated session, a DPoP token bound to the login's key, in %d requests", r, refreshed, firstAttempts)
	}
	refreshed.Attempts = 0
	if r := results["oauth4webapi dpop second refresh"]; !r.OK || json.Unmarshal(r.Result, &refreshed) != nil || refreshed.TokenType != "dpop" ||
		refreshed.CnfJKT != login.KeyJKT || refreshed.Attempts != 1 {
		t.Errorf("oauth4webapi second refresh: %+v, want a DPoP token bound to the login's key in one request", r)
	}
	var me struct {
		Status int    `json:"status"`
		Sub    string `json:"sub"`
	}
	if r := results["oauth4webapi dpop protected resource"]; !r.OK || json.Unmarshal(r.Result, &me) != nil || me.Status != 200 || me.Sub != localapi.DemoUserID {
		t.Errorf("oauth4webapi protected resource: %+v, want 200 for the demo user", r)
	}
	if r := results["oauth4webapi refresh with another key"]; r.OK || r.Error.Name != "ResponseBodyError" || r.Error.Error != "invalid_dpop_proof" {
		t.Errorf("oauth4webapi refresh with another key: %+v, want ResponseBodyError invalid_dpop_proof", r)
	}
	for _, name := range []string{"oauth4webapi protected resource with another key", "dpop token as bearer"} {
		if r := results[name]; r.OK || (r.Error.Status != 401 && r.Error.Status != 403) {
			t.Errorf("%s: %+v, want it refused with 401 or 403", name, r)
		}
	}
}

// goJWT verifies a token with golang-jwt, its keys fetched by keyfunc v3
// from the metadata's jwks_uri.
func goJWT(t *testing.T, api string, m metadata) {
	access, _ := login(t, api)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k, err := keyfunc.NewDefaultCtx(ctx, []string{m.JWKSURI})
	if err != nil {
		t.Fatal(err)
	}
	opts := []jwt.ParserOption{jwt.WithIssuer(m.Issuer), jwt.WithAudience(audience), jwt.WithValidMethods(m.Algorithms), jwt.WithExpirationRequired()}
	tok, err := jwt.Parse(access, k.Keyfunc, opts...)
	if err != nil || !tok.Valid {
		t.Fatalf("golang-jwt + keyfunc: %v", err)
	}
	if sub, _ := tok.Claims.GetSubject(); sub != localapi.DemoUserID {
		t.Errorf("sub %q", sub)
	}
	if _, err := jwt.Parse(tamper(access), k.Keyfunc, opts...); !errors.Is(err, jwt.ErrTokenSignatureInvalid) ||
		!strings.Contains(err.Error(), "token signature is invalid") {
		t.Errorf("a tampered signature: %v, want %q", err, "token signature is invalid")
	}
	_, err = jwt.Parse(access, k.Keyfunc, jwt.WithIssuer(m.Issuer), jwt.WithAudience("https://other.example"), jwt.WithValidMethods(m.Algorithms))
	if !errors.Is(err, jwt.ErrTokenInvalidAudience) || !strings.Contains(err.Error(), "token has invalid audience") {
		t.Errorf("another audience: %v, want %q", err, "token has invalid audience")
	}
}

// oauth2Refresh refreshes through the metadata's token_endpoint with
// golang.org/x/oauth2, as a public client (client_id only): its first
// try, client authentication in a Basic header, is refused with 401
// invalid_client and it falls back to the form, as RFC 6749 2.3 and 5.2
// lead it to.
func oauth2Refresh(t *testing.T, d *testenv.DevStack, m metadata) {
	api := d.API
	_, refresh := login(t, api)
	cfg := oauth2.Config{ClientID: "web", Endpoint: oauth2.Endpoint{TokenURL: m.TokenEndpoint}}
	ctx := context.Background()
	src := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh, Expiry: time.Now().Add(-time.Minute)})
	first, err := src.Token()
	if err != nil {
		t.Fatalf("x/oauth2 refresh: %v", err)
	}
	if first.AccessToken == "" || first.RefreshToken == "" || first.RefreshToken == refresh || first.TokenType != "Bearer" ||
		!first.Expiry.After(time.Now()) {
		t.Fatalf("x/oauth2 token: type %q, expiry %v, access token given %t, refresh token rotated %t", first.TokenType,
			first.Expiry, first.AccessToken != "", first.RefreshToken != "" && first.RefreshToken != refresh)
	}
	if status := me(t, api, first.AccessToken); status != 200 {
		t.Errorf("/me with the refreshed token: %d", status)
	}
	// Its first try (client authentication in a Basic header) was refused.
	if log := d.ErrOut.String(); !strings.Contains(log, `route="POST /auth/refresh" status=401`) || !strings.Contains(log, `route="POST /auth/refresh" status=200`) {
		t.Errorf("the gateway's log has no 401 then 200 on /auth/refresh: x/oauth2 did not fall back from Basic authentication")
	}
	// The next refresh rotates again, from the token x/oauth2 kept.
	second, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: first.RefreshToken, Expiry: time.Now().Add(-time.Minute)}).Token()
	if err != nil || second.RefreshToken == first.RefreshToken {
		t.Fatalf("second refresh: %v", err)
	}
	// The rotated-out token, after the grace window (1 s here, counted
	// from the write, plus half): reuse, answered invalid_grant.
	time.Sleep(2100 * time.Millisecond)
	_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh, Expiry: time.Now().Add(-time.Minute)}).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.Response.StatusCode != 400 || re.ErrorDescription == "" ||
		!strings.Contains(err.Error(), `oauth2: "invalid_grant"`) {
		t.Errorf("reuse of a rotated-out refresh token: %v, want oauth2: \"invalid_grant\" (400) with a description", err)
	}
}

// form posts an OAuth form, signed with SigV4 as the local principal when
// sign is set.
func form(t *testing.T, endpoint string, values url.Values, sign bool) (int, http.Header, []byte) {
	t.Helper()
	body := []byte(values.Encode())
	req, _ := http.NewRequest("POST", endpoint, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sign {
		if err := localapi.SignRequest(req, body, localapi.LocalPrincipal, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// revokeAndIntrospect: RFC 7009 revocation of an access token, then RFC
// 7662 introspection says active:false at once and the authorizer denies
// within its revocation sync interval (replica mode, 1 s). Introspection
// unsigned is API Gateway's 403.
func revokeAndIntrospect(t *testing.T, api string, m metadata) {
	access, _ := login(t, api)
	status, _, body := form(t, m.IntrospectionEndpoint, url.Values{"token": {access}}, true)
	var in struct {
		Active bool   `json:"active"`
		Sub    string `json:"sub"`
	}
	if json.Unmarshal(body, &in); status != 200 || !in.Active || in.Sub != localapi.DemoUserID {
		t.Fatalf("introspection of a live token: %d %s", status, body)
	}
	status, h, body := form(t, m.IntrospectionEndpoint, url.Values{"token": {access}}, false)
	if status != 403 || h.Get("x-amzn-ErrorType") != "MissingAuthenticationTokenException" || !strings.Contains(string(body), "Missing Authentication Token") {
		t.Errorf("unsigned introspection: %d %s %s, want API Gateway's 403 Missing Authentication Token", status, h.Get("x-amzn-ErrorType"), body)
	}
	if status := me(t, api, access); status != 200 {
		t.Fatalf("/me before the revocation: %d", status)
	}

	if status, _, body := form(t, m.RevocationEndpoint, url.Values{"token": {access}, "token_type_hint": {"access_token"}}, false); status != 200 {
		t.Fatalf("RFC 7009 revocation: %d %s", status, body)
	}
	status, _, body = form(t, m.IntrospectionEndpoint, url.Values{"token": {access}}, true)
	if status != 200 || string(body) != `{"active":false}` {
		t.Errorf("introspection right after the revocation: %d %s, want {\"active\":false}", status, body)
	}
	// The authorizer syncs its view at the first request after its sync
	// interval: the revoked token is denied about a second later. The
	// bound leaves room for a loaded machine.
	revoked := time.Now()
	for me(t, api, access) != 403 {
		if time.Since(revoked) > 5*time.Second {
			t.Fatal("the authorizer still allows the revoked token 5 s after its revocation")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the authorizer denied the revoked token %v after its revocation (sync interval 1 s)", time.Since(revoked).Round(10*time.Millisecond))
	if status, _, _ := form(t, m.RevocationEndpoint, url.Values{"token": {"not-a-token"}}, false); status != 200 {
		t.Errorf("revocation of garbage: %d, want 200 (RFC 7009 2.2)", status)
	}
}

// jwtAuthorizerChecks applies to the metadata and JWKS what the API Gateway
// Developer Guide says an HTTP API JWT authorizer does ("Control access to
// HTTP APIs with JWT authorizers", the workflow): fetch
// <issuer>/.well-known/openid-configuration, take its jwks_uri, find the
// token's kid there, check the algorithm (RSA-based only for HTTP APIs;
// REST API JWT authorizers take RS256-RS512 and ES256-ES512 in
// JwtConfiguration defaultAlgorithms), the signature, iss, aud, exp, nbf,
// iat and a route scope in "scope". A route that needs no revocation can
// use it with an RSA key (SigningKeySpec RSA_2048, RS256); with the default
// ES256 key it refuses every token, which is why infra/OPERATIONS.md says so.
func jwtAuthorizerChecks(t *testing.T, api string, m metadata, alg string) {
	access, _ := login(t, api)
	var jwks struct {
		Keys []map[string]string `json:"keys"`
	}
	getJSON(t, m.JWKSURI, &jwks)
	header, _, err := jwt.NewParser().ParseUnverified(access, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := header.Header["kid"].(string)
	var key map[string]string
	for _, k := range jwks.Keys {
		if k["kid"] == kid {
			key = k
		}
	}
	if key == nil || key["use"] != "sig" || key["alg"] != alg {
		t.Fatalf("no signing key %q with alg %s in the JWKS: %v", kid, alg, jwks.Keys)
	}
	httpAPI := func() error {
		if key["kty"] != "RSA" {
			return fmt.Errorf("%s: HTTP API JWT authorizers support only RSA-based algorithms", key["alg"])
		}
		return nil
	}
	restAPI := func() error {
		if !slices.Contains([]string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}, key["alg"]) {
			return fmt.Errorf("%s is not among a REST API JWT authorizer's defaultAlgorithms", key["alg"])
		}
		return nil
	}
	if err := restAPI(); err != nil {
		t.Errorf("REST API JWT authorizer: %v", err)
	}
	switch err := httpAPI(); {
	case alg == "RS256" && err != nil:
		t.Errorf("HTTP API JWT authorizer with an RSA key: %v", err)
	case alg == "ES256" && (err == nil || !strings.Contains(err.Error(), "only RSA-based algorithms")):
		t.Errorf("HTTP API JWT authorizer with the ES256 key: %v, want it refused (RSA only)", err)
	}

	k, err := keyfunc.NewJWKSetJSON(mustJSON(jwks))
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(access, claims, k.Keyfunc, jwt.WithIssuer(m.Issuer), jwt.WithAudience(audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithValidMethods([]string{alg})); err != nil {
		t.Fatalf("the claims API Gateway checks: %v", err)
	}
	if scope, _ := claims["scope"].(string); scope == "" && claims["scope"] != nil {
		t.Errorf("scope %v is not a space-separated string (RFC 6749 3.3), which authorizationScopes need", claims["scope"])
	}
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}
