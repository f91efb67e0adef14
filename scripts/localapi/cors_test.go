package localapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// TestProjectCORS: the project template's CorsConfiguration, resolved as a
// deploy resolves it: off without AllowedOrigins, else those origins with
// credentials, the methods of every browser route (DELETE for the device
// list), the two request headers the client sends, and the max age.
func TestProjectCORS(t *testing.T) {
	tpl, err := Load(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	none := LocalParams(tpl, "")
	none["AllowedOrigins"] = ""
	off, err := tpl.CORSPolicy(none)
	if err != nil || off != nil {
		t.Fatalf("AllowedOrigins empty: %+v, %v; want no CORS (HasAllowedOrigins false)", off, err)
	}
	p, err := tpl.CORSPolicy(LocalParams(tpl, "", map[string]string{"AllowedOrigins": "http://localhost:5173"}))
	if err != nil || p == nil {
		t.Fatalf("CORSPolicy: %+v, %v", p, err)
	}
	if got := strings.Join(p.AllowOrigins, ","); got != "https://app.example.com,http://localhost:5173" {
		t.Errorf("origins %s", got)
	}
	if !p.AllowCredentials || strings.Join(p.AllowMethods, ",") != "GET,POST,DELETE" ||
		strings.Join(p.AllowHeaders, ",") != "authorization,content-type,dpop" || p.MaxAge != 600 ||
		strings.Join(p.ExposeHeaders, ",") != "dpop-nonce" {
		t.Errorf("policy %+v", p)
	}
	for _, r := range tpl.Routes {
		if !strings.Contains(","+strings.Join(p.AllowMethods, ",")+",", ","+r.Method+",") {
			t.Errorf("route %s: its method is not in AllowMethods, so a browser on another origin cannot call it", r.Key())
		}
	}
}

// TestCORSConditionsAndRefusals: conditions are evaluated, and what API
// Gateway refuses (credentials with *) or the local reader cannot read is
// an error, not a silent policy.
func TestCORSConditionsAndRefusals(t *testing.T) {
	src := strings.Replace(sampleTemplate, "  HttpApi:\n", `  HttpApi:
    CorsConfiguration: !If
      - On
      - AllowOrigins: !Split [",", !Ref Origins]
        AllowCredentials: true
        AllowMethods: [GET]
        MaxAge: !Ref Age
      - !Ref AWS::NoValue
`, 1)
	src = strings.Replace(src, "Parameters:\n", `Parameters:
  Origins: {Type: String, Default: ""}
  Age: {Type: Number, Default: 60}
  Mode: {Type: String, Default: dev}
`, 1)
	src = strings.Replace(src, "Globals:\n", `Conditions:
  HasOrigins: !Not [!Equals [!Ref Origins, ""]]
  IsDev: !Equals [!Ref Mode, dev]
  On: !And [!Condition HasOrigins, !Or [!Condition IsDev, !Equals [x, y]]]
Globals:
`, 1)
	tpl, err := Parse([]byte(src), []byte(sampleMakefile))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		origins, mode string
		on            bool
	}{{"", "dev", false}, {"https://a.example", "dev", true}, {"https://a.example", "prod", false}} {
		p, err := tpl.CORSPolicy(map[string]string{"Origins": tt.origins, "Age": "60", "Mode": tt.mode})
		if err != nil || (p != nil) != tt.on {
			t.Errorf("Origins=%q Mode=%s: %+v, %v; want on=%v", tt.origins, tt.mode, p, err, tt.on)
		}
		if p != nil && (p.MaxAge != 60 || p.AllowOrigins[0] != "https://a.example") {
			t.Errorf("policy %+v", p)
		}
	}
	if _, err := tpl.CORSPolicy(map[string]string{"Origins": "*", "Age": "60", "Mode": "dev"}); err == nil {
		t.Error("AllowCredentials with * accepted; API Gateway refuses it")
	}
	bad := strings.Replace(src, "!Split [\",\", !Ref Origins]", "!Sub x", 1)
	if _, err := Parse([]byte(bad), []byte(sampleMakefile)); err == nil {
		t.Error("AllowOrigins: !Sub accepted; the local reader cannot resolve it")
	}
}

// TestGatewayCORS: with a CORS configuration the local gateway does what
// API Gateway does for an HTTP API: it answers preflights itself (no
// authorizer, no function, any path), echoes an allowed origin with
// credentials on every response (the gateway's own 401 included), and
// replaces whatever CORS headers the function set; a disallowed origin
// gets no CORS header at all, which browsers take as a refusal.
func TestGatewayCORS(t *testing.T) {
	f := newFixture(t)
	f.item.respond = answer(events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "{}",
		Headers: map[string]string{"Access-Control-Allow-Origin": "*", "access-control-allow-methods": "PUT"}})
	gw := f.srv.Config.Handler.(*Gateway)
	gw.UseCORS(&CORSPolicy{AllowOrigins: []string{"http://localhost:5173"}, AllowCredentials: true,
		AllowMethods: []string{"GET", "POST", "DELETE"}, AllowHeaders: []string{"authorization", "content-type"},
		ExposeHeaders: []string{"retry-after"}, MaxAge: 600})
	request := func(method, path, origin string, h ...string) (*http.Response, string) {
		req := httptest.NewRequest(method, f.srv.URL+path, nil)
		req.RequestURI = ""
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		for i := 0; i+1 < len(h); i += 2 {
			req.Header.Set(h[i], h[i+1])
		}
		return do(t, req)
	}
	calls := func() int { return f.authz.calls() + f.item.calls() }

	resp, _ := request("OPTIONS", "/items/7", "http://localhost:5173", "Access-Control-Request-Method", "DELETE",
		"Access-Control-Request-Headers", "authorization")
	want := map[string]string{"Access-Control-Allow-Origin": "http://localhost:5173", "Access-Control-Allow-Credentials": "true",
		"Access-Control-Allow-Methods": "GET,POST,DELETE", "Access-Control-Allow-Headers": "authorization,content-type",
		"Access-Control-Max-Age": "600"}
	if resp.StatusCode != 204 {
		t.Errorf("preflight from an allowed origin: %d, want 204", resp.StatusCode)
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("preflight %s: %q, want %q", k, got, v)
		}
	}
	if resp, _ := request("OPTIONS", "/no/such/route", "http://localhost:5173", "Access-Control-Request-Method", "POST"); resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("preflight of a path without a route: %d %v, want answered", resp.StatusCode, resp.Header)
	}
	resp, _ = request("OPTIONS", "/items/7", "http://localhost:5174", "Access-Control-Request-Method", "GET")
	if resp.StatusCode != 204 || corsHeaders(resp) != "" {
		t.Errorf("preflight from a disallowed origin: %d %s, want no CORS header", resp.StatusCode, corsHeaders(resp))
	}
	if n := calls(); n != 0 {
		t.Errorf("preflights called the authorizer or a function %d times", n)
	}
	if resp, _ := request("OPTIONS", "/items/7", "http://localhost:5173"); resp.StatusCode != 401 {
		t.Errorf("OPTIONS without Access-Control-Request-Method: %d, want a routed request ($default, behind the authorizer: 401)", resp.StatusCode)
	}

	resp, _ = request("GET", "/items/7", "http://localhost:5173", "X-Api-Key", "good")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "true" || resp.Header.Get("Access-Control-Allow-Methods") != "" ||
		resp.Header.Get("Access-Control-Expose-Headers") != "retry-after" {
		t.Errorf("request from an allowed origin: %d %s: want the origin echoed with credentials, the function's CORS headers gone", resp.StatusCode, corsHeaders(resp))
	}
	resp, _ = request("GET", "/items/7", "http://localhost:5173")
	if resp.StatusCode != 401 || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
		t.Errorf("the gateway's 401 to an allowed origin: %d %s, want readable by it", resp.StatusCode, corsHeaders(resp))
	}
	before := f.item.calls()
	resp, _ = request("GET", "/items/7", "https://evil.example", "X-Api-Key", "good")
	if resp.StatusCode != 200 || corsHeaders(resp) != "" || f.item.calls() != before+1 {
		t.Errorf("request from a disallowed origin: %d %s: want the function called and no CORS header", resp.StatusCode, corsHeaders(resp))
	}
	resp, _ = request("GET", "/items/7", "", "X-Api-Key", "good")
	if corsHeaders(resp) != "" {
		t.Errorf("request without Origin: %s, want no CORS header (the function's removed)", corsHeaders(resp))
	}
}

// TestGatewayWithoutCORS: an API without a CORS configuration answers no
// preflight (it is routed: $default, behind the authorizer, 401) and
// passes the function's headers on.
func TestGatewayWithoutCORS(t *testing.T) {
	f := newFixture(t)
	f.item.respond = answer(events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "{}",
		Headers: map[string]string{"Access-Control-Allow-Origin": "*"}})
	req := httptest.NewRequest("OPTIONS", f.srv.URL+"/items/7", nil)
	req.RequestURI = ""
	req.Header.Set("Origin", "http://localhost:5173")
	req.Header.Set("Access-Control-Request-Method", "GET")
	if resp, _ := do(t, req); resp.StatusCode != 401 || corsHeaders(resp) != "" {
		t.Errorf("preflight without CORS: %d %s", resp.StatusCode, corsHeaders(resp))
	}
	req = httptest.NewRequest("GET", f.srv.URL+"/items/7", nil)
	req.RequestURI = ""
	req.Header.Set("X-Api-Key", "good")
	if resp, _ := do(t, req); resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("the function's own header: %s", corsHeaders(resp))
	}
}

func corsHeaders(resp *http.Response) string {
	var out []string
	for k, v := range resp.Header {
		if strings.HasPrefix(k, "Access-Control-") {
			out = append(out, k+": "+strings.Join(v, ","))
		}
	}
	return strings.Join(out, "; ")
}
