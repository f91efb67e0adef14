package app_test

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
	"github.com/authkit/lambda-auth/shared/metrics"
)

// formEvent is the fixture name with values as its form body, base64
// encoded as API Gateway delivers form posts.
func formEvent(t *testing.T, name string, values url.Values) apigw.Request {
	t.Helper()
	req := httpEvent(t, name)
	req.Body = base64.StdEncoding.EncodeToString([]byte(values.Encode()))
	req.IsBase64Encoded = true
	return req
}

// grant is a refresh through the RFC 6749 token endpoint dialect.
func (s *service) grant(t *testing.T, refresh string) apigw.Response {
	t.Helper()
	return call(t, s.refresh, formEvent(t, "refresh-oauth", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}))
}

// loginInBody logs in as a non-browser client: the refresh token in the body.
func (s *service) loginInBody(t *testing.T, user, pw string) (access, refresh string) {
	t.Helper()
	req := loginEvent(t, user, pw)
	delete(req.Headers, "origin")
	b, _ := json.Marshal(map[string]any{"username": user, "password": pw, "refresh_token_in_body": true})
	req.Body = string(b)
	resp := call(t, s.login, req)
	var body apigw.TokenResponse
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || resp.StatusCode != 200 || body.RefreshToken == "" {
		t.Fatalf("login: %d %s", resp.StatusCode, resp.Body)
	}
	return body.AccessToken, body.RefreshToken
}

func tokenBody(t *testing.T, resp apigw.Response) apigw.TokenResponse {
	t.Helper()
	var body apigw.TokenResponse
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("token response %s: %v", resp.Body, err)
	}
	return body
}

// TestTokenEndpointForm: /auth/refresh with a form body is the RFC 6749
// token endpoint: grant_type=refresh_token (section 6) answered with the
// section 5.1 body (the next refresh token in it, scope, no cookie) and
// section 5.2 errors (400 invalid_request, unsupported_grant_type,
// invalid_grant; 401 invalid_client with WWW-Authenticate to a client that
// authenticates). The JSON dialect keeps its codes.
func TestTokenEndpointForm(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "olga", "a long enough password", "read", "write")
	env.Set("REFRESH_REUSE_GRACE", "1s")
	s := newService(t, env)
	_, refresh := s.loginInBody(t, "olga", "a long enough password")

	resp := s.grant(t, refresh)
	body := tokenBody(t, resp)
	if resp.StatusCode != 200 || body.TokenType != "Bearer" || body.AccessToken == "" || body.ExpiresIn <= 0 ||
		body.RefreshToken == "" || body.RefreshToken == refresh || body.Scope != "read write" {
		t.Fatalf("form refresh: %d %s", resp.StatusCode, resp.Body)
	}
	if len(resp.Cookies) != 0 || resp.Headers["cache-control"] != "no-store" || resp.Headers["pragma"] != "no-cache" {
		t.Errorf("form refresh: cookies %v, headers %v: want no cookie, no-store and no-cache (RFC 6749 5.1)", resp.Cookies, resp.Headers)
	}
	if ok, _ := s.authorize(t, body.AccessToken); !ok {
		t.Error("the access token of a form refresh is refused")
	}
	next := body.RefreshToken

	cases := []struct {
		name    string
		edit    func(req *apigw.Request)
		values  url.Values
		status  int
		code    string
		headers map[string]string
	}{
		{name: "no grant_type", values: url.Values{"refresh_token": {next}}, status: 400, code: "invalid_request"},
		{name: "password grant", values: url.Values{"grant_type": {"password"}, "username": {"olga"}, "password": {"x"}}, status: 400, code: "unsupported_grant_type"},
		{name: "authorization_code grant", values: url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}, status: 400, code: "unsupported_grant_type"},
		{name: "no refresh_token", values: url.Values{"grant_type": {"refresh_token"}}, status: 400, code: "invalid_request"},
		{name: "unknown refresh token", values: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {flipChar(next[33:])}}, status: 400, code: "invalid_grant"},
		{name: "forged secret for a real session", values: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next[:33] + flipChar(next[33:])}}, status: 400, code: "invalid_grant"},
		{name: "a parameter twice", values: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next, next}}, status: 400, code: "invalid_request"},
		{name: "client authentication", values: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next}},
			edit:   func(r *apigw.Request) { r.Headers["authorization"] = "Basic d2ViOg==" },
			status: 401, code: "invalid_client", headers: map[string]string{"www-authenticate": `Basic realm="lambda-auth"`}},
		{name: "cookie and body", values: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next}},
			edit:   func(r *apigw.Request) { r.Cookies = []string{"__Secure-refresh_token=" + next} },
			status: 400, code: "invalid_request"},
		{name: "latin-1 charset", values: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next}},
			edit: func(r *apigw.Request) {
				r.Headers["content-type"] = "application/x-www-form-urlencoded; charset=iso-8859-1"
			},
			status: 415, code: "unsupported_media_type"},
		{name: "not a form", values: url.Values{"grant_type": {"refresh_token"}},
			edit:   func(r *apigw.Request) { r.Body = base64.StdEncoding.EncodeToString([]byte("%zz=1")) },
			status: 400, code: "invalid_request"},
		{name: "body over 8 KiB", values: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {strings.Repeat("a", 9<<10)}}, status: 413, code: "payload_too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := formEvent(t, "refresh-oauth", c.values)
			if c.edit != nil {
				c.edit(&req)
			}
			resp := call(t, s.refresh, req)
			if resp.StatusCode != c.status || errorCode(t, resp) != c.code {
				t.Errorf("%d %s, want %d %s", resp.StatusCode, resp.Body, c.status, c.code)
			}
			for k, v := range c.headers {
				if resp.Headers[k] != v {
					t.Errorf("%s: %q, want %q", k, resp.Headers[k], v)
				}
			}
			if len(resp.Cookies) != 0 || strings.Contains(resp.Body, "access_token") {
				t.Errorf("a refused request handed out %v %s", resp.Cookies, resp.Body)
			}
		})
	}

	// Logout is not an OAuth endpoint: a form is not its body.
	if resp := call(t, s.logout, formEvent(t, "refresh-oauth", url.Values{"refresh_token": {next}})); resp.StatusCode != 415 {
		t.Errorf("logout with a form body: %d %s, want 415", resp.StatusCode, resp.Body)
	}

	// None of the refusals touched the chain: the current token refreshes.
	resp = s.grant(t, next)
	third := tokenBody(t, resp).RefreshToken
	if resp.StatusCode != 200 || third == "" {
		t.Fatalf("refresh after the refusals: %d %s", resp.StatusCode, resp.Body)
	}
	// The grace window and reuse detection are the JSON dialect's: within
	// it, the replaced token gets the same successor; after it, reuse
	// ends the session and is invalid_grant.
	if resp := s.grant(t, next); resp.StatusCode != 200 || tokenBody(t, resp).RefreshToken != third {
		t.Errorf("replaced token within the grace window: %d %s, want 200 with the same successor", resp.StatusCode, resp.Body)
	}
	s.clock.Advance(3 * time.Second)
	if resp := s.grant(t, next); resp.StatusCode != 400 || errorCode(t, resp) != "invalid_grant" {
		t.Errorf("reuse after the grace window: %d %s, want 400 invalid_grant", resp.StatusCode, resp.Body)
	}
	if resp := s.grant(t, third); resp.StatusCode != 400 || errorCode(t, resp) != "invalid_grant" {
		t.Errorf("the current token of a session revoked for reuse: %d %s, want 400 invalid_grant", resp.StatusCode, resp.Body)
	}

	// The JSON dialect is unchanged: 401 invalid_refresh_token, now with
	// error_description beside message.
	resp = call(t, s.refresh, bodyRefresh(t, third))
	var e apigw.ErrorBody
	json.Unmarshal([]byte(resp.Body), &e)
	if resp.StatusCode != 401 || errorCode(t, resp) != "invalid_refresh_token" || e.ErrorDescription != e.Message {
		t.Errorf("JSON refresh of a revoked token: %d %s, want 401 invalid_refresh_token, error_description = message", resp.StatusCode, resp.Body)
	}
}

// TestTokenRevocationEndpoint: POST /auth/revoke (RFC 7009). A refresh
// token ends its session and every access token of it (2.1); an access
// token gets a jti entry that the authorizer honours, and its siblings
// live on; an unknown, malformed or expired token is answered 200 and
// writes nothing (2.2); a missing token is 400, client authentication 401.
func TestTokenRevocationEndpoint(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "paula", "a long enough password")
	s := newService(t, env)
	revoke := func(values url.Values) apigw.Response {
		t.Helper()
		return call(t, s.revocation, formEvent(t, "token-revocation", values))
	}

	// A refresh token: the session ends, its access tokens are denied.
	access, refresh := s.loginInBody(t, "paula", "a long enough password")
	if resp := revoke(url.Values{"token": {refresh}, "token_type_hint": {"refresh_token"}}); resp.StatusCode != 200 || resp.Body != "{}" {
		t.Fatalf("revoke a refresh token: %d %s", resp.StatusCode, resp.Body)
	}
	if resp := s.grant(t, refresh); resp.StatusCode != 400 || errorCode(t, resp) != "invalid_grant" {
		t.Errorf("refresh after its revocation: %d %s, want 400 invalid_grant", resp.StatusCode, resp.Body)
	}
	if ok, _ := s.authorize(t, access); ok {
		t.Error("an access token of a session whose refresh token was revoked is allowed")
	}

	// An access token, with a wrong hint (the form decides): that token
	// is denied, another one of the same session is not.
	access1, refresh := s.loginInBody(t, "paula", "a long enough password")
	access2 := tokenBody(t, s.grant(t, refresh)).AccessToken
	if resp := revoke(url.Values{"token": {access1}, "token_type_hint": {"refresh_token"}}); resp.StatusCode != 200 {
		t.Fatalf("revoke an access token: %d %s", resp.StatusCode, resp.Body)
	}
	if ok, _ := s.authorize(t, access1); ok {
		t.Error("a revoked access token is allowed")
	}
	if ok, _ := s.authorize(t, access2); !ok {
		t.Error("revoking one access token denied another of the same session")
	}
	var jti struct{ Jti string }
	payload, _ := b64(strings.Split(access1, ".")[1])
	json.Unmarshal(payload, &jti)
	entries, err := env.Store.Revocations(t.Context(), jti.Jti, "-", "-")
	if err != nil || len(entries) != 1 || entries[0].Reason != "revoked by its holder (RFC 7009)" {
		t.Errorf("revocation entries of the jti: %+v %v", entries, err)
	}

	// Revoking it again (or again and again) writes nothing more: no
	// feed item per repetition for every authorizer to read.
	for range 3 {
		s.calls.Reset()
		if resp := revoke(url.Values{"token": {access1}}); resp.StatusCode != 200 {
			t.Fatalf("revoke a revoked access token: %d %s", resp.StatusCode, resp.Body)
		}
		for _, op := range s.calls.Ops() {
			if strings.HasSuffix(op, "PutItem") || strings.HasSuffix(op, "UpdateItem") {
				t.Errorf("revoking a revoked access token again: %s called", op)
			}
		}
	}

	// Nothing to revoke: 200, and not one write.
	expired := access2
	s.clock.Advance(20 * time.Minute)
	for name, tok := range map[string]string{
		"garbage": "not-a-token", "an unknown refresh token": refresh[:33] + flipChar(refresh[33:]),
		"a forged access token": access2[:len(access2)-4] + "AAAA", "an expired access token": expired,
	} {
		s.calls.Reset()
		if resp := revoke(url.Values{"token": {tok}}); resp.StatusCode != 200 {
			t.Errorf("%s: %d %s, want 200 (RFC 7009 2.2)", name, resp.StatusCode, resp.Body)
		}
		for _, op := range s.calls.Ops() {
			if strings.HasSuffix(op, "PutItem") || strings.HasSuffix(op, "UpdateItem") {
				t.Errorf("%s: %s called for a token that is nothing to revoke", name, op)
			}
		}
	}

	for name, c := range map[string]struct {
		req    apigw.Request
		status int
		code   string
	}{
		"no token":              {formEvent(t, "token-revocation", url.Values{"token_type_hint": {"access_token"}}), 400, "invalid_request"},
		"client authentication": {withHeader(formEvent(t, "token-revocation", url.Values{"token": {"x"}}), "authorization", "Basic d2ViOg=="), 401, "invalid_client"},
		"JSON body":             {withHeader(httpEvent(t, "token-revocation"), "content-type", "application/json"), 415, "unsupported_media_type"},
	} {
		resp := call(t, s.revocation, c.req)
		if resp.StatusCode != c.status || errorCode(t, resp) != c.code {
			t.Errorf("%s: %d %s, want %d %s", name, resp.StatusCode, resp.Body, c.status, c.code)
		}
	}
}

func withHeader(req apigw.Request, k, v string) apigw.Request {
	req.Headers[k] = v
	return req
}

// introspection is the RFC 7662 answer for tok, asked as the caller of the
// token-introspection fixture (an IAM role).
func (s *service) introspection(t *testing.T, tok string) (apigw.IntrospectionResponse, apigw.Response) {
	t.Helper()
	resp := call(t, s.introspect, formEvent(t, "token-introspection", url.Values{"token": {tok}}))
	var out apigw.IntrospectionResponse
	if resp.StatusCode == 200 {
		if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
			t.Fatalf("introspection %s: %v", resp.Body, err)
		}
	}
	return out, resp
}

// TestTokenIntrospectionEndpoint: POST /auth/introspect (RFC 7662). An
// active token gets its claims (2.2); a revoked one is inactive at once,
// whatever the authorizer's mode, because the table is read (one strongly
// consistent BatchGetItem, no feed); garbage, refresh tokens and expired
// tokens are only {"active":false}; a request without the IAM caller in
// its context (a route deployed without AWS_IAM) is 401.
func TestTokenIntrospectionEndpoint(t *testing.T) {
	env := testenv.New(t)
	user := env.CreateUser(t, "quinn", "a long enough password", "orders:read")
	s := newService(t, env)
	access, refresh := s.loginInBody(t, "quinn", "a long enough password")

	s.calls.Reset()
	in, resp := s.introspection(t, access)
	if resp.StatusCode != 200 || !in.Active || in.Sub != user.ID || in.Scope != "orders:read" || in.ClientID != "web" ||
		in.TokenType != "Bearer" || in.Iss != "https://auth.test.example" || len(in.Aud) != 1 || in.Aud[0] != "https://api.test.example" ||
		in.Jti == "" || in.Sid != refresh[:32] || in.Exp <= in.Iat || in.Iat == 0 {
		t.Fatalf("introspection of a live token: %d %s", resp.StatusCode, resp.Body)
	}
	if s.calls.Op("DynamoDB.BatchGetItem") != 1 || s.calls.Op("DynamoDB.Query") != 0 || s.calls.Service("KMS") != 0 {
		t.Errorf("introspection calls %s, want one BatchGetItem of the table (strongly consistent), no feed Query, no KMS", s.calls)
	}
	if resp.Headers["cache-control"] != "no-store" {
		t.Errorf("cache-control %q, want no-store", resp.Headers["cache-control"])
	}

	// Revoked through RFC 7009: inactive on the very next call.
	call(t, s.revocation, formEvent(t, "token-revocation", url.Values{"token": {access}}))
	if in, resp := s.introspection(t, access); resp.StatusCode != 200 || in.Active || resp.Body != `{"active":false}` {
		t.Errorf("introspection of a revoked token: %d %s, want exactly {\"active\":false}", resp.StatusCode, resp.Body)
	}

	// Logout-all (a user entry) covers a token whose jti is not revoked.
	access2 := tokenBody(t, s.grant(t, refresh)).AccessToken
	if in, _ := s.introspection(t, access2); !in.Active {
		t.Fatal("a fresh token of the session is inactive")
	}
	_, authCtx := s.authorize(t, access2)
	call(t, s.logoutAll, protected(t, "logout-all", authCtx))
	if in, _ := s.introspection(t, access2); in.Active {
		t.Error("a token of a user logged out of every device is active")
	}

	s.clock.Advance(time.Millisecond) // a session after the logout-all
	access3, refresh3 := s.loginInBody(t, "quinn", "a long enough password")
	for name, tok := range map[string]string{
		"garbage": "garbage", "a refresh token": refresh3, "a forged signature": access3[:len(access3)-4] + "AAAA",
	} {
		if _, resp := s.introspection(t, tok); resp.StatusCode != 200 || resp.Body != `{"active":false}` {
			t.Errorf("%s: %d %s, want 200 {\"active\":false}", name, resp.StatusCode, resp.Body)
		}
	}
	s.clock.Advance(16 * time.Minute)
	if _, resp := s.introspection(t, access3); resp.Body != `{"active":false}` {
		t.Errorf("an expired token: %s", resp.Body)
	}

	noIAM := formEvent(t, "token-introspection", url.Values{"token": {access3}})
	noIAM.RequestContext.Authorizer = nil
	lambdaOnly := formEvent(t, "token-introspection", url.Values{"token": {access3}})
	lambdaOnly.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: map[string]any{"sub": user.ID}}
	noARN := formEvent(t, "token-introspection", url.Values{"token": {access3}})
	noARN.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{AccessKey: "AKIA"}}
	for name, c := range map[string]struct {
		req    apigw.Request
		status int
		code   string
	}{
		"no IAM caller (route without AWS_IAM)": {noIAM, 401, "invalid_client"},
		"a Lambda authorizer's context":         {lambdaOnly, 401, "invalid_client"},
		"an IAM context without a caller ARN":   {noARN, 401, "invalid_client"},
		"no token":                              {formEvent(t, "token-introspection", url.Values{}), 400, "invalid_request"},
		"JSON body":                             {withHeader(httpEvent(t, "token-introspection"), "content-type", "application/json"), 415, "unsupported_media_type"},
	} {
		resp := call(t, s.introspect, c.req)
		if resp.StatusCode != c.status || errorCode(t, resp) != c.code {
			t.Errorf("%s: %d %s, want %d %s", name, resp.StatusCode, resp.Body, c.status, c.code)
		}
	}
}

// TestIntrospectionDuringOutage: when the revocation table cannot be read,
// introspection answers 503, never "active" and never "inactive".
func TestIntrospectionDuringOutage(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "rita", "a long enough password")
	db := testenv.NewFaultProxy(t, os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", db.URL)
	s := newService(t, env)
	access, _ := s.loginInBody(t, "rita", "a long enough password")
	db.Set(testenv.Fault{Mode: testenv.Error})
	resp := callBefore(t, s.introspect, formEvent(t, "token-introspection", url.Values{"token": {access}}))
	want503(t, "introspection during an outage", resp)
	if strings.Contains(resp.Body, "active") {
		t.Errorf("an answer about the token during an outage: %s", resp.Body)
	}
	if n := s.metrics.Count(metrics.DependencyError, map[string]string{"Function": "token-introspection", "Service": "DynamoDB"}); n != 1 {
		t.Errorf("DependencyError of the introspection function: %v, want 1\n%s", n, s.metrics.Raw())
	}
	db.Reset()
	if in, _ := s.introspection(t, access); !in.Active {
		t.Error("inactive once DynamoDB is back")
	}
}

// TestDiscoveryMetadata: the metadata document (RFC 8414 section 2) at
// both well-known routes: the issuer the tokens carry, every endpoint the
// issuer followed by a route of template.yaml, the algorithms of the
// JWKS, the grant type and auth method set (their defaults would be
// wrong), no empty array (section 3.2), and cacheable.
func TestDiscoveryMetadata(t *testing.T) {
	env := testenv.New(t)
	s := newService(t, env)
	resp := call(t, s.discovery, httpEvent(t, "discovery"))
	if resp.StatusCode != 200 || resp.Headers["content-type"] != "application/json" || resp.Headers["cache-control"] != "public, max-age=300" {
		t.Fatalf("discovery: %d %v", resp.StatusCode, resp.Headers)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &m); err != nil {
		t.Fatal(err)
	}
	iss := "https://auth.test.example"
	want := map[string]any{
		"issuer": iss, "jwks_uri": iss + "/.well-known/jwks.json", "token_endpoint": iss + "/auth/refresh",
		"revocation_endpoint": iss + "/auth/revoke", "introspection_endpoint": iss + "/auth/introspect",
		"grant_types_supported": []any{"refresh_token"}, "token_endpoint_auth_methods_supported": []any{"none"},
		"revocation_endpoint_auth_methods_supported": []any{"none"}, "id_token_signing_alg_values_supported": []any{"ES256"},
		"subject_types_supported": []any{"public"},
		// DPoP (RFC 9449 5.1), DPOP_MODE optional by default.
		"dpop_signing_alg_values_supported": []any{"ES256"},
	}
	for k, v := range want {
		if got, _ := json.Marshal(m[k]); string(got) != mustJSON(v) {
			t.Errorf("%s: %s, want %s", k, got, mustJSON(v))
		}
	}
	for k, v := range m {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected member %s: %v", k, v)
		}
		if a, ok := v.([]any); ok && len(a) == 0 {
			t.Errorf("%s is an empty array (RFC 8414 3.2: omit it)", k)
		}
	}
	for _, k := range []string{"authorization_endpoint", "response_types_supported"} {
		if _, ok := m[k]; ok {
			t.Errorf("%s is present: no grant here uses an authorization endpoint", k)
		}
	}

	// Each endpoint is a route of template.yaml, with the method and
	// authorization its clients expect.
	routes := templateRoutes(t)
	for path, want := range map[string]string{
		"/.well-known/jwks.json": "GET NONE", "/auth/refresh": "POST NONE", "/auth/revoke": "POST NONE",
		"/auth/introspect": "POST AWS_IAM", "/.well-known/openid-configuration": "GET NONE",
		"/.well-known/oauth-authorization-server": "GET NONE",
	} {
		if routes[path] != want {
			t.Errorf("template.yaml route %s: %q, want %q", path, routes[path], want)
		}
	}

	// The algorithms follow the keys: an RSA key signing PS256 beside the
	// EC one.
	prev := testenv.CreateKey(t, env.KMS, "RSA_2048")
	env.Set("VERIFY_KEY_IDS", prev)
	env.Set("RSA_SIGNING_ALG", "PS256")
	s = newService(t, env)
	json.Unmarshal([]byte(call(t, s.discovery, httpEvent(t, "discovery")).Body), &m)
	if got := mustJSON(m["id_token_signing_alg_values_supported"]); got != `["ES256","PS256"]` {
		t.Errorf("algorithms with a previous RSA key: %s, want [\"ES256\",\"PS256\"]", got)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// templateRoutes maps each HttpApi route path of template.yaml, as the
// local API reads them, to "METHOD AUTHORIZATION" (NONE, AWS_IAM or the
// Lambda authorizer's name).
func templateRoutes(t *testing.T) map[string]string {
	t.Helper()
	tpl, err := localapi.Load(testenv.RepoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range tpl.Routes {
		auth := "NONE"
		switch {
		case r.IAM:
			auth = "AWS_IAM"
		case r.Authorizer != "":
			auth = r.Authorizer
		}
		out[r.Path] = r.Method + " " + auth
	}
	return out
}
