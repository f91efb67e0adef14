package localapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// fakeFunction records the events it gets and answers with respond.
type fakeFunction struct {
	mu      sync.Mutex
	events  [][]byte
	respond func(event []byte) ([]byte, error)
}

func (f *fakeFunction) Invoke(_ context.Context, payload []byte) ([]byte, error) {
	f.mu.Lock()
	f.events = append(f.events, payload)
	f.mu.Unlock()
	return f.respond(payload)
}

func (f *fakeFunction) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.events)
}

func (f *fakeFunction) last(t *testing.T, v any) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.events) == 0 {
		t.Fatal("function was not called")
	}
	if err := json.Unmarshal(f.events[len(f.events)-1], v); err != nil {
		t.Fatal(err)
	}
}

func answer(v any) func([]byte) ([]byte, error) {
	return func([]byte) ([]byte, error) { return json.Marshal(v) }
}

type gatewayFixture struct {
	srv              *httptest.Server
	gw               *Gateway
	authz, item, pub *fakeFunction
}

func newFixture(t *testing.T) *gatewayFixture {
	t.Helper()
	tpl, err := Parse([]byte(sampleTemplate), []byte(sampleMakefile))
	if err != nil {
		t.Fatal(err)
	}
	f := &gatewayFixture{
		authz: &fakeFunction{respond: func(ev []byte) ([]byte, error) {
			var req events.APIGatewayV2CustomAuthorizerV2Request
			json.Unmarshal(ev, &req)
			switch req.IdentitySource[0] {
			case "good":
				return json.Marshal(map[string]any{"principalId": "user-1", "context": map[string]any{"sub": "user-1", "n": 2},
					"policyDocument": map[string]any{"Version": "2012-10-17", "Statement": []map[string]any{
						{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": []string{"arn:aws:execute-api:*:*:*/$default/GET/items/*"}}}}})
			case "crash":
				return nil, &FunctionError{Type: "Runtime.ExitError", Message: "boom"}
			default:
				return json.Marshal(map[string]any{"principalId": "x", "policyDocument": map[string]any{"Version": "2012-10-17",
					"Statement": []map[string]any{{"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": "*"}}}})
			}
		}},
		item: &fakeFunction{respond: answer(events.APIGatewayV2HTTPResponse{StatusCode: 201,
			Headers: map[string]string{"Content-Type": "text/plain"}, Cookies: []string{"a=1; HttpOnly", "b=2"},
			Body: base64.StdEncoding.EncodeToString([]byte("binary\x00ok")), IsBase64Encoded: true})},
		pub: &fakeFunction{respond: answer(map[string]any{"plain": true})},
	}
	gw, err := NewGateway(tpl, map[string]Invoker{"GuardFunction": f.authz, "ItemFunction": f.item}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.gw = gw
	f.srv = httptest.NewServer(gw)
	t.Cleanup(f.srv.Close)
	return f
}

func do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestGatewayAuthorizedRoute: the authorizer sees the identity source and
// route, its context reaches the route as requestContext.authorizer.lambda,
// and the route's response comes back with cookies and a decoded body.
func TestGatewayAuthorizedRoute(t *testing.T) {
	f := newFixture(t)
	req, _ := http.NewRequest("GET", f.srv.URL+"/items/a%20b?x=1&x=2", nil)
	req.Header.Set("X-Api-Key", "good")
	req.Header.Add("Cookie", "c1=v1; c2=v2")
	resp, body := do(t, req)
	if resp.StatusCode != 201 || body != "binary\x00ok" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("got %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if c := resp.Header.Values("Set-Cookie"); len(c) != 2 || c[0] != "a=1; HttpOnly" || c[1] != "b=2" {
		t.Errorf("Set-Cookie %v", c)
	}
	var authReq events.APIGatewayV2CustomAuthorizerV2Request
	f.authz.last(t, &authReq)
	if authReq.Type != "REQUEST" || authReq.RouteKey != "GET /items/{id}" || len(authReq.IdentitySource) != 1 ||
		!strings.HasSuffix(authReq.RouteArn, "/$default/GET/items/a%20b") {
		t.Errorf("authorizer event %+v", authReq)
	}
	var ev events.APIGatewayV2HTTPRequest
	f.item.last(t, &ev)
	if ev.Version != "2.0" || ev.RouteKey != "GET /items/{id}" || ev.PathParameters["id"] != "a b" ||
		ev.QueryStringParameters["x"] != "1,2" || ev.RawQueryString != "x=1&x=2" || ev.Headers["x-api-key"] != "good" ||
		strings.Join(ev.Cookies, "|") != "c1=v1|c2=v2" || ev.Headers["cookie"] != "" || ev.RequestContext.HTTP.Method != "GET" {
		t.Errorf("route event %+v", ev)
	}
	if ev.RequestContext.Authorizer == nil || ev.RequestContext.Authorizer.Lambda["sub"] != "user-1" ||
		ev.RequestContext.Authorizer.Lambda["principalId"] != "user-1" {
		t.Errorf("authorizer context %+v", ev.RequestContext.Authorizer)
	}
}

// TestGatewayRefusals: API Gateway's own answers, before or instead of the
// route's function.
func TestGatewayRefusals(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name, method, path, key string
		status                  int
		message                 string
	}{
		{"no identity source: 401, authorizer not called", "GET", "/items/1", "", 401, "Unauthorized"},
		{"denied: 403", "GET", "/items/1", "bad", 403, "Forbidden"},
		{"authorizer crashed: 500", "GET", "/items/1", "crash", 500, "Internal Server Error"},
		{"allowed by the authorizer, not by its policy: 403", "GET", "/other", "good", 403, "Forbidden"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := f.authz.calls()
			itemBefore := f.item.calls()
			req, _ := http.NewRequest(c.method, f.srv.URL+c.path, nil)
			if c.key != "" {
				req.Header.Set("X-Api-Key", c.key)
			}
			resp, body := do(t, req)
			if resp.StatusCode != c.status || body != `{"message":"`+c.message+`"}` || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, body, c.status, c.message)
			}
			if c.key == "" && f.authz.calls() != before {
				t.Error("authorizer called without the identity source")
			}
			if f.item.calls() != itemBefore {
				t.Error("route function called")
			}
		})
	}
}

func TestGatewayPublicGreedyRouteAndBodies(t *testing.T) {
	f := newFixture(t)
	req, _ := http.NewRequest("POST", f.srv.URL+"/files/a/b/c", strings.NewReader("\x89PNG"))
	req.Header.Set("Content-Type", "image/png")
	resp, _ := do(t, req)
	if resp.StatusCode != 201 || f.authz.calls() != 0 {
		t.Fatalf("status %d, authorizer calls %d", resp.StatusCode, f.authz.calls())
	}
	var ev events.APIGatewayV2HTTPRequest
	f.item.last(t, &ev)
	if ev.PathParameters["proxy"] != "a/b/c" || !ev.IsBase64Encoded || ev.Body != base64.StdEncoding.EncodeToString([]byte("\x89PNG")) {
		t.Errorf("event %+v", ev)
	}
	req, _ = http.NewRequest("POST", f.srv.URL+"/files/x", strings.NewReader(`{"a":1}`))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	do(t, req)
	f.item.last(t, &ev)
	if ev.IsBase64Encoded || ev.Body != `{"a":1}` {
		t.Errorf("JSON body passed as %q (base64 %t)", ev.Body, ev.IsBase64Encoded)
	}
}

func TestWriteResponse(t *testing.T) {
	cases := []struct {
		name, out string
		status    int
		body      string
	}{
		{"no statusCode: the JSON is the body", `{"a":1}`, 200, `{"a":1}`},
		{"no statusCode: a JSON string is the body's text", `"Hello from Lambda!"`, 200, `Hello from Lambda!`},
		{"payload 2.0 has no multiValueHeaders", `{"statusCode":204,"multiValueHeaders":{"X-A":["1"]}}`, 204, ``},
		{"structured", `{"statusCode":404,"body":"{\"error\":\"x\"}"}`, 404, `{"error":"x"}`},
		{"bad status", `{"statusCode":42}`, 500, `{"message":"Internal Server Error"}`},
		{"bad base64", `{"statusCode":200,"body":"%%","isBase64Encoded":true}`, 500, `{"message":"Internal Server Error"}`},
		{"not JSON", `hello`, 500, `{"message":"Internal Server Error"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			if err := writeResponse(w, []byte(c.out)); err != nil {
				gatewayError(w, 500, "Internal Server Error")
			}
			if w.Code != c.status || w.Body.String() != c.body {
				t.Errorf("got %d %s, want %d %s", w.Code, w.Body, c.status, c.body)
			}
			if w.Header().Get("X-A") != "" {
				t.Errorf("multiValueHeaders passed on: %v", w.Header())
			}
		})
	}
}

func TestMatch(t *testing.T) {
	routes := []Route{
		{Method: "GET", Path: "/pets/{id}"}, {Method: "GET", Path: "/pets/dog"}, {Method: "ANY", Path: "/pets/dog"},
		{Method: "GET", Path: "/files/{proxy+}"}, {Method: "GET", Path: "/files/img/{proxy+}"}, {Method: "POST", Path: "/"},
	}
	cases := []struct{ method, path, want string }{
		{"GET", "/pets/dog", "GET /pets/dog"},
		{"PUT", "/pets/dog", "ANY /pets/dog"},
		{"GET", "/pets/cat", "GET /pets/{id}"},
		{"GET", "/files/img/a/b", "GET /files/img/{proxy+}"},
		{"GET", "/files/doc/a", "GET /files/{proxy+}"},
		{"POST", "/", "POST /"},
		{"GET", "/", ""},
		{"GET", "/files/", ""},
		{"GET", "/pets", ""},
		{"GET", "/pets/cat/", ""},
		{"DELETE", "/pets/cat", ""},
	}
	for _, c := range cases {
		r, _ := match(routes, c.method, c.path)
		got := ""
		if r != nil {
			got = r.Key()
		}
		if got != c.want {
			t.Errorf("%s %s -> %q, want %q", c.method, c.path, got, c.want)
		}
	}
	withDefault := append(routes, Route{Method: "ANY", Path: "$default"})
	if r, _ := match(withDefault, "GET", "/nothing"); r == nil || r.Path != "$default" {
		t.Errorf("$default not chosen: %v", r)
	}
}

// TestInvokeClassifiesEmulatorAnswers: what aws-lambda-rie answers for a
// crash, a timeout and an error of the handler becomes a FunctionError (a
// 500 at the gateway), never a response passed on to the client.
func TestInvokeClassifiesEmulatorAnswers(t *testing.T) {
	cases := []struct {
		name     string
		status   int
		body     string
		wantType string // "" for a normal response
	}{
		{"response", 200, `{"statusCode":200,"body":"ok"}`, ""},
		{"response with error-looking fields", 200, `{"statusCode":400,"errorMessage":"m","errorType":"t"}`, ""},
		{"handler error", 200, `{"errorMessage":"boom","errorType":"*errors.errorString"}`, "*errors.errorString"},
		{"init or runtime crash", 502, `{"errorType":"Runtime.ExitError"}`, "Runtime.Emulator502"},
		{"timeout", 200, `Task timed out after 3.00 seconds`, "Sandbox.Timedout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				io.WriteString(w, c.body)
			}))
			defer srv.Close()
			l := &Lambda{Name: "F", url: srv.URL}
			out, err := l.Invoke(context.Background(), []byte("{}"))
			var fe *FunctionError
			switch {
			case c.wantType == "" && (err != nil || string(out) != c.body):
				t.Errorf("got %q, %v; want the response", out, err)
			case c.wantType != "" && (!errors.As(err, &fe) || fe.Type != c.wantType):
				t.Errorf("got %q, %v; want a FunctionError %s", out, err, c.wantType)
			}
		})
	}
}

// TestSimpleResponseAuthorizer: the project's authorizer answers
// {"isAuthorized", "context"}; anything else is a 500, as on API Gateway.
func TestSimpleResponseAuthorizer(t *testing.T) {
	src := strings.Replace(sampleTemplate, `AuthorizerPayloadFormatVersion: "2.0"`,
		"AuthorizerPayloadFormatVersion: \"2.0\"\n          EnableSimpleResponses: true", 1)
	tpl, err := Parse([]byte(src), []byte(sampleMakefile))
	if err != nil {
		t.Fatal(err)
	}
	authz := &fakeFunction{respond: func(ev []byte) ([]byte, error) {
		var req events.APIGatewayV2CustomAuthorizerV2Request
		json.Unmarshal(ev, &req)
		switch req.IdentitySource[0] {
		case "yes":
			return []byte(`{"isAuthorized":true,"context":{"sub":"u1","scope":"a b"}}`), nil
		case "no":
			return []byte(`{"isAuthorized":false,"context":{"sub":"u1"}}`), nil
		case "policy": // an IAM answer to a simple-response authorizer
			return []byte(`{"principalId":"u1","policyDocument":{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}]}}`), nil
		default:
			return []byte(`"yes"`), nil
		}
	}}
	item := &fakeFunction{respond: answer(map[string]any{"statusCode": 200, "body": "ok"})}
	gw, err := NewGateway(tpl, map[string]Invoker{"GuardFunction": authz, "ItemFunction": item}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	for key, want := range map[string]int{"yes": 200, "no": 403, "policy": 500, "garbage": 500} {
		req, _ := http.NewRequest("GET", srv.URL+"/items/1", nil)
		req.Header.Set("X-Api-Key", key)
		if resp, body := do(t, req); resp.StatusCode != want {
			t.Errorf("authorizer answering %s: %d %s, want %d", key, resp.StatusCode, body, want)
		}
	}
	var ev events.APIGatewayV2HTTPRequest
	item.last(t, &ev)
	if ev.RequestContext.Authorizer == nil || ev.RequestContext.Authorizer.Lambda["scope"] != "a b" || item.calls() != 1 {
		t.Errorf("context %+v after %d calls", ev.RequestContext.Authorizer, item.calls())
	}
}

// TestForwardedFor: API Gateway appends the caller to X-Forwarded-For.
func TestForwardedFor(t *testing.T) {
	f := newFixture(t)
	req, _ := http.NewRequest("GET", f.srv.URL+"/files/a", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	do(t, req)
	var ev events.APIGatewayV2HTTPRequest
	f.item.last(t, &ev)
	if ev.Headers["x-forwarded-for"] != "203.0.113.9, 127.0.0.1" || ev.RequestContext.HTTP.SourceIP != "127.0.0.1" {
		t.Errorf("x-forwarded-for %q, sourceIp %q", ev.Headers["x-forwarded-for"], ev.RequestContext.HTTP.SourceIP)
	}
}

// TestGatewayIAMRoute: an AWS_IAM route takes only requests signed with
// SigV4 (the SDK's signer) by known credentials, for execute-api in this
// region, within 15 minutes, over the body as sent; everything else is
// API Gateway's 403 with its x-amzn-ErrorType, and the function is not
// called. The caller reaches the function as requestContext.authorizer.iam.
func TestGatewayIAMRoute(t *testing.T) {
	f := newFixture(t)
	other := IAMPrincipal{AccessKeyID: "AKIAOTHER", SecretAccessKey: "other-secret", SessionToken: "session-1",
		UserARN: "arn:aws:sts::123456789012:assumed-role/orders/svc", UserID: "AROAORDERS:svc"}
	f.gw.AddPrincipal(other)
	body := []byte("token=abc")
	signed := func(p IAMPrincipal, at time.Time, edit func(*http.Request)) *http.Request {
		req, _ := http.NewRequest("POST", f.srv.URL+"/signed?x=1", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := SignRequest(req, body, p, at); err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(req)
		}
		return req
	}
	now := time.Now()

	for _, p := range []IAMPrincipal{LocalPrincipal, other} {
		before := f.item.calls()
		resp, got := do(t, signed(p, now, nil))
		if resp.StatusCode != 201 || f.item.calls() != before+1 {
			t.Fatalf("%s: signed request: %d %s", p.AccessKeyID, resp.StatusCode, got)
		}
		var ev events.APIGatewayV2HTTPRequest
		f.item.last(t, &ev)
		a := ev.RequestContext.Authorizer
		if a == nil || a.IAM == nil || a.IAM.UserARN != p.UserARN || a.IAM.AccessKey != p.AccessKeyID || a.Lambda != nil {
			t.Errorf("%s: authorizer context %+v, want the caller's IAM identity", p.AccessKeyID, a)
		}
	}

	cases := []struct {
		name, errorType, message string
		req                      *http.Request
	}{
		{"unsigned", "MissingAuthenticationTokenException", "Missing Authentication Token", func() *http.Request {
			req, _ := http.NewRequest("POST", f.srv.URL+"/signed", bytes.NewReader(body))
			return req
		}()},
		{"a bearer token", "IncompleteSignatureException", "Authorization header requires 'Credential' parameter",
			signed(LocalPrincipal, now, func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc") })},
		{"wrong secret", "InvalidSignatureException", "The request signature we calculated does not match",
			signed(IAMPrincipal{AccessKeyID: "local", SecretAccessKey: "guess"}, now, nil)},
		{"unknown access key", "UnrecognizedClientException", "The security token included in the request is invalid",
			signed(IAMPrincipal{AccessKeyID: "AKIANOBODY", SecretAccessKey: "x"}, now, nil)},
		{"missing session token", "UnrecognizedClientException", "The security token included in the request is invalid",
			signed(other, now, func(r *http.Request) { r.Header.Del("X-Amz-Security-Token") })},
		{"body changed after signing", "InvalidSignatureException", "The request signature we calculated does not match",
			signed(LocalPrincipal, now, func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader("token=xyz")) })},
		{"query changed after signing", "InvalidSignatureException", "The request signature we calculated does not match",
			signed(LocalPrincipal, now, func(r *http.Request) { r.URL.RawQuery = "x=2" })},
		{"signed header changed", "InvalidSignatureException", "The request signature we calculated does not match",
			signed(LocalPrincipal, now, func(r *http.Request) { r.Header.Set("Content-Type", "application/json") })},
		{"signed 20 minutes ago", "InvalidSignatureException", "Signature expired",
			signed(LocalPrincipal, now.Add(-20*time.Minute), nil)},
		{"scoped to another service", "InvalidSignatureException", "Credential should be scoped to correct service",
			signed(LocalPrincipal, now, func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/execute-api/", "/lambda/", 1))
			})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := f.item.calls()
			resp, got := do(t, c.req)
			if resp.StatusCode != 403 || resp.Header.Get("x-amzn-ErrorType") != c.errorType || !strings.Contains(got, c.message) {
				t.Errorf("%d %s %q, want 403 %s %q", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), got, c.errorType, c.message)
			}
			var m map[string]string
			if json.Unmarshal([]byte(got), &m) != nil || m["message"] == "" {
				t.Errorf("body %q is not API Gateway's {\"message\": ...}", got)
			}
			if f.item.calls() != before {
				t.Error("the function was called for a refused request")
			}
		})
	}
}
