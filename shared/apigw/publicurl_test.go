package apigw

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/authkit/lambda-auth/shared/dpop"
)

// readEvent decodes events/name.json into v.
func readEvent(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// forge sets the headers a client may send to move the URL elsewhere:
// none of them may change it.
func forge(h map[string]string) map[string]string {
	if h == nil {
		h = map[string]string{}
	}
	h["host"], h["Host"] = "evil.example", "evil.example"
	h["x-forwarded-host"], h["x-forwarded-proto"], h["x-forwarded-port"] = "evil.example", "http", "8080"
	h["forwarded"] = "host=evil.example;proto=http"
	return h
}

// TestPublicURLHTTPAPI: HTTP API events (payload 2.0), from the request
// and the authorizer fixtures, on the execute-api domain with $default and
// named stages, and on custom domains with and without a base path.
func TestPublicURLHTTPAPI(t *testing.T) {
	const execAPI = "abcdef1234.execute-api.us-east-1.amazonaws.com"
	for _, tc := range []struct {
		name, domain, stage, rawPath, origin string
		want                                 string // "" for an error
	}{
		{"fixture: $default stage, served at the root", execAPI, "$default", "/me", "", "https://" + execAPI + "/me"},
		{"named stage on execute-api", execAPI, "prod", "/prod/me", "", "https://" + execAPI + "/prod/me"},
		{"named stage, the stage itself", execAPI, "prod", "/prod", "", "https://" + execAPI + "/prod"},
		{"named stage missing from the path", execAPI, "prod", "/me", "", ""},
		{"named stage only as a prefix of a segment", execAPI, "prod", "/production/me", "", ""},
		{"custom domain, root mapping", "api.example.com", "prod", "/me", "", "https://api.example.com/me"},
		{"custom domain, base path mapping", "api.example.com", "prod", "/v1/me", "", "https://api.example.com/v1/me"},
		{"percent-encoding kept as sent", "api.example.com", "$default", "/files/a%20b%2Fc", "", "https://api.example.com/files/a%20b%2Fc"},
		{"local API: the configured origin", "127.0.0.1:3000", "$default", "/me", "http://127.0.0.1:3000", "http://127.0.0.1:3000/me"},
		{"origin with a trailing slash", execAPI, "$default", "/me", "https://api.example.com/", ""},
		{"origin without a scheme", execAPI, "$default", "/me", "api.example.com", ""},
		{"no domain name", "", "$default", "/me", "", ""},
		{"domain name with a path", "api.example.com/x", "$default", "/me", "", ""},
		{"domain name with user info", "a@api.example.com", "$default", "/me", "", ""},
		{"relative path", execAPI, "$default", "me", "", ""},
		{"no path", execAPI, "$default", "", "", ""},
		{"path with a query", execAPI, "$default", "/me?x=1", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req events.APIGatewayV2HTTPRequest
			readEvent(t, "me", &req)
			var az events.APIGatewayV2CustomAuthorizerV2Request
			readEvent(t, "authorizer", &az)
			req.RequestContext.DomainName, req.RequestContext.Stage, req.RawPath = tc.domain, tc.stage, tc.rawPath
			az.RequestContext.DomainName, az.RequestContext.Stage, az.RawPath = tc.domain, tc.stage, tc.rawPath
			req.Headers, az.Headers = forge(req.Headers), forge(az.Headers)
			for what, f := range map[string]func() (string, error){
				"request":    func() (string, error) { return HTTPAPIURL(&req, tc.origin) },
				"authorizer": func() (string, error) { return HTTPAPIAuthorizerURL(&az, tc.origin) },
			} {
				got, err := f()
				if tc.want == "" {
					if err == nil {
						t.Errorf("%s: got %q, want an error", what, got)
					}
					continue
				}
				if err != nil || got != tc.want {
					t.Errorf("%s: got %q, %v; want %q", what, got, err, tc.want)
				}
			}
		})
	}
}

// TestPublicURLFixtures: the fixtures as API Gateway sent them give the
// URL their client addressed, and that URL is one a DPoP proof's htu
// matches.
func TestPublicURLFixtures(t *testing.T) {
	var az events.APIGatewayV2CustomAuthorizerV2Request
	readEvent(t, "authorizer", &az)
	got, err := HTTPAPIAuthorizerURL(&az, "")
	if want := "https://abcdef1234.execute-api.us-east-1.amazonaws.com/me"; err != nil || got != want {
		t.Fatalf("events/authorizer.json: %q, %v; want %q", got, err, want)
	}
	var rest events.APIGatewayCustomAuthorizerRequestTypeRequest
	readEvent(t, "authorizer-rest-request", &rest)
	var raw struct {
		RequestContext struct{ DomainName string } `json:"requestContext"`
	}
	readEvent(t, "authorizer-rest-request", &raw)
	got, err = RESTAuthorizerURL(&rest, raw.RequestContext.DomainName, "")
	if want := "https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod/me"; err != nil || got != want {
		t.Fatalf("events/authorizer-rest-request.json: %q, %v; want %q", got, err, want)
	}
	for _, htu := range []string{got, strings.ToUpper(got[:8]) + got[8:], strings.Replace(got, ".com/", ".com:443/", 1)} {
		n1, err1 := dpop.NormalizeURI(htu)
		n2, err2 := dpop.NormalizeURI(got)
		if err1 != nil || err2 != nil || n1 != n2 {
			t.Errorf("htu %q does not match %q: %q %q %v %v", htu, got, n1, n2, err1, err2)
		}
	}
}

// TestPublicURLREST: REST API events, proxy requests and REQUEST
// authorizers: the path is requestContext.path (the top-level path lacks
// the stage), with the stage on execute-api and the base path on a custom
// domain; the Host and X-Forwarded-* headers change nothing.
func TestPublicURLREST(t *testing.T) {
	const execAPI = "abcdef1234.execute-api.us-east-1.amazonaws.com"
	for _, tc := range []struct {
		name, domain, stage, ctxPath, path string
		want                               string
	}{
		{"fixture shape: stage in the path", execAPI, "prod", "/prod/me", "/me", "https://" + execAPI + "/prod/me"},
		{"custom domain, base path v1", "api.example.com", "prod", "/v1/me", "/me", "https://api.example.com/v1/me"},
		{"custom domain, no base path", "api.example.com", "prod", "/me", "/me", "https://api.example.com/me"},
		{"execute-api path without its stage", execAPI, "prod", "/me", "/me", ""},
		{"no requestContext.path (a console test event)", execAPI, "prod", "", "/me", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var az events.APIGatewayCustomAuthorizerRequestTypeRequest
			readEvent(t, "authorizer-rest-request", &az)
			az.RequestContext.Stage, az.RequestContext.Path, az.Path = tc.stage, tc.ctxPath, tc.path
			az.Headers = forge(az.Headers)
			req := events.APIGatewayProxyRequest{Path: tc.path, HTTPMethod: "GET", Headers: forge(nil),
				RequestContext: events.APIGatewayProxyRequestContext{DomainName: tc.domain, Stage: tc.stage, Path: tc.ctxPath}}
			for what, f := range map[string]func() (string, error){
				"proxy":      func() (string, error) { return RESTURL(&req, "") },
				"authorizer": func() (string, error) { return RESTAuthorizerURL(&az, tc.domain, "") },
			} {
				got, err := f()
				if tc.want == "" {
					if err == nil {
						t.Errorf("%s: got %q, want an error", what, got)
					}
					continue
				}
				if err != nil || got != tc.want {
					t.Errorf("%s: got %q, %v; want %q", what, got, err, tc.want)
				}
			}
		})
	}
}
