package localapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Invoker runs one function invocation (a *Lambda, or a fake in tests).
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// Gateway serves a template's HttpApi routes as API Gateway does for an
// HTTP API with payload format 2.0: route matching, the Lambda authorizer
// (simple or IAM responses) before protected routes, its context in
// requestContext.authorizer.lambda, AWS_IAM routes (SigV4 checked, the
// caller in requestContext.authorizer.iam: verifyIAM), the response
// mapping, and the API's CORS configuration (UseCORS). Not emulated:
// throttling, custom domains, mTLS and the authorizer cache.
type Gateway struct {
	routes      []Route
	authorizers map[string]*Authorizer
	functions   map[string]Invoker // by logical id
	principals  map[string]IAMPrincipal
	log         *slog.Logger
	now         func() time.Time
	cors        *CORSPolicy
}

// UseCORS applies the API's CORS configuration (Template.CORSPolicy), as
// API Gateway does for an HTTP API that has one: it answers preflights
// itself and puts the configured headers on every response to an
// allowed origin. nil: none.
func (g *Gateway) UseCORS(p *CORSPolicy) { g.cors = p }

// Limits of API Gateway HTTP APIs.
const (
	maxPayload         = 10 << 20 // request payload quota
	integrationTimeout = 30 * time.Second
)

// Local identity of the emulated API in events.
const (
	localAccount = "123456789012"
	localAPIID   = "localapi"
	localRegion  = "us-east-1"
)

// NewGateway serves t's routes with the given function invokers.
func NewGateway(t *Template, functions map[string]Invoker, log *slog.Logger) (*Gateway, error) {
	for _, r := range t.Routes {
		if functions[r.Function] == nil {
			return nil, fmt.Errorf("route %s: function %s is not running", r.Key(), r.Function)
		}
	}
	for _, a := range t.Authorizers {
		if functions[a.Function] == nil {
			return nil, fmt.Errorf("authorizer %s: function %s is not running", a.Name, a.Function)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Gateway{routes: t.Routes, authorizers: t.Authorizers, functions: functions, log: log, now: time.Now,
		principals: map[string]IAMPrincipal{LocalPrincipal.AccessKeyID: LocalPrincipal}}, nil
}

// AddPrincipal makes p's credentials known to the AWS_IAM routes (tests).
func (g *Gateway) AddPrincipal(p IAMPrincipal) { g.principals[p.AccessKeyID] = p }

// gatewayError is API Gateway's own JSON error body.
func gatewayError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"message\":%q}", message)
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := g.now()
	rec := &statusRecorder{ResponseWriter: w}
	reqID := requestID()
	rec.Header().Set("Apigw-Requestid", reqID)
	key := "CORS preflight"
	if g.cors != nil && isPreflight(r) {
		g.cors.preflight(rec, r)
	} else {
		var out http.ResponseWriter = rec
		if g.cors != nil {
			out = &corsWriter{ResponseWriter: rec, policy: g.cors, origin: r.Header.Get("Origin")}
		}
		route, params := match(g.routes, r.Method, r.URL.EscapedPath())
		g.serve(out, r, route, params, reqID)
		key = "-"
		if route != nil {
			key = route.Key()
		}
	}
	// Method, path and status only: headers, query and body may carry secrets.
	g.log.Info("request", "method", r.Method, "path", r.URL.Path, "route", key,
		"status", rec.status, "ms", g.now().Sub(start).Milliseconds())
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, route *Route, params map[string]string, reqID string) {
	if route == nil {
		gatewayError(w, http.StatusNotFound, "Not Found")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	if err != nil {
		gatewayError(w, http.StatusBadRequest, "Bad Request")
		return
	}
	if len(body) > maxPayload {
		gatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	ev := g.event(r, route, params, body, reqID)

	if route.IAM {
		caller, refused := verifyIAM(r, body, g.principals, g.now())
		if refused != nil {
			refused.write(w)
			return
		}
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{IAM: caller}
	}
	if route.Authorizer != "" {
		a := g.authorizers[route.Authorizer]
		ctx, ok, status := g.authorize(r.Context(), a, ev)
		if !ok {
			gatewayError(w, status, http.StatusText(status))
			return
		}
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: ctx}
	}

	payload, err := json.Marshal(ev)
	if err != nil {
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	// A client that goes away does not cancel the invocation: on AWS it runs
	// to its end, and an emulator cut off mid-invocation breaks.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), integrationTimeout)
	defer cancel()
	out, err := g.functions[route.Function].Invoke(ctx, payload)
	if err != nil {
		g.log.Error("integration failed", "route", route.Key(), "function", route.Function, "err", err)
		if errors.Is(err, context.DeadlineExceeded) {
			gatewayError(w, http.StatusServiceUnavailable, "Service Unavailable")
			return
		}
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	if err := writeResponse(w, out); err != nil {
		g.log.Error("malformed integration response", "route", route.Key(), "function", route.Function, "err", err)
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
	}
}

// event builds the payload 2.0 request event
// (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html).
func (g *Gateway) event(r *http.Request, route *Route, params map[string]string, body []byte, reqID string) events.APIGatewayV2HTTPRequest {
	now := g.now().UTC()
	headers := map[string]string{}
	var cookies []string
	for name, values := range r.Header {
		name = strings.ToLower(name)
		if name == "cookie" {
			for _, v := range values {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[name] = strings.Join(values, ",")
	}
	if r.Host != "" {
		headers["host"] = r.Host
	}
	if r.ContentLength >= 0 && len(body) > 0 {
		headers["content-length"] = fmt.Sprint(len(body))
	}
	sourceIP, _, _ := net.SplitHostPort(r.RemoteAddr)
	if xff := headers["x-forwarded-for"]; xff != "" { // API Gateway appends the caller
		headers["x-forwarded-for"] = xff + ", " + sourceIP
	} else {
		headers["x-forwarded-for"] = sourceIP
	}
	// The truth of the local connection (API Gateway sends https and 443).
	headers["x-forwarded-proto"] = "http"
	if _, port, err := net.SplitHostPort(r.Host); err == nil {
		headers["x-forwarded-port"] = port
	}
	var query map[string]string
	if values := r.URL.Query(); len(values) > 0 {
		query = map[string]string{}
		for k, v := range values {
			query[k] = strings.Join(v, ",")
		}
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              route.Key(),
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     route.Key(),
			AccountID:    localAccount,
			Stage:        "$default",
			RequestID:    reqID,
			APIID:        localAPIID,
			DomainName:   r.Host,
			DomainPrefix: strings.Split(r.Host, ".")[0],
			Time:         now.Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if isText(r.Header.Get("Content-Type")) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	return ev
}

// isText: bodies passed as text; every other body is base64-encoded with
// isBase64Encoded true. AWS does not document its list; this one is the
// narrow end of what it is seen to pass as text (form posts, for one, come
// base64-encoded), so a handler that cannot decode base64 fails here first.
func isText(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// authorize calls the route's Lambda authorizer. A request without one of
// the identity sources gets 401 and no call; a denial 403; an authorizer
// that fails or answers something else 500, as on API Gateway.
func (g *Gateway) authorize(ctx context.Context, a *Authorizer, ev events.APIGatewayV2HTTPRequest) (map[string]any, bool, int) {
	var identity []string
	for _, h := range a.IdentityHeaders {
		v, ok := ev.Headers[h]
		if !ok || v == "" {
			return nil, false, http.StatusUnauthorized
		}
		identity = append(identity, v)
	}
	req := events.APIGatewayV2CustomAuthorizerV2Request{
		Version:               "2.0",
		Type:                  "REQUEST",
		RouteArn:              fmt.Sprintf("arn:aws:execute-api:%s:%s:%s/%s/%s%s", localRegion, localAccount, localAPIID, "$default", ev.RequestContext.HTTP.Method, ev.RawPath),
		IdentitySource:        identity,
		RouteKey:              ev.RouteKey,
		RawPath:               ev.RawPath,
		RawQueryString:        ev.RawQueryString,
		Cookies:               ev.Cookies,
		Headers:               ev.Headers,
		QueryStringParameters: ev.QueryStringParameters,
		RequestContext:        ev.RequestContext,
		PathParameters:        ev.PathParameters,
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, false, http.StatusInternalServerError
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second) // API Gateway's authorizer limit
	defer cancel()
	out, err := g.functions[a.Function].Invoke(ctx, payload)
	if err != nil {
		g.log.Error("authorizer failed", "authorizer", a.Name, "err", err)
		return nil, false, http.StatusInternalServerError
	}
	if a.SimpleResponses {
		var resp struct {
			IsAuthorized *bool          `json:"isAuthorized"`
			Context      map[string]any `json:"context"`
		}
		if err := json.Unmarshal(out, &resp); err != nil || resp.IsAuthorized == nil {
			g.log.Error("authorizer answered no simple response", "authorizer", a.Name)
			return nil, false, http.StatusInternalServerError
		}
		if !*resp.IsAuthorized {
			return nil, false, http.StatusForbidden
		}
		return resp.Context, true, 0
	}
	var resp iamResponse
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.PolicyDocument.Statement) == 0 {
		g.log.Error("authorizer answered no IAM policy", "authorizer", a.Name)
		return nil, false, http.StatusInternalServerError
	}
	if !allows(resp.PolicyDocument.Statement, req.RouteArn) {
		return nil, false, http.StatusForbidden
	}
	if resp.Context == nil {
		resp.Context = map[string]any{}
	}
	resp.Context["principalId"] = resp.PrincipalID
	return resp.Context, true, 0
}

// iamResponse is an authorizer's IAM policy answer. IAM lets Action and
// Resource be a string or a list, which events.IAMPolicyStatement does not read.
type iamResponse struct {
	PrincipalID    string `json:"principalId"`
	PolicyDocument struct {
		Statement []iamStatement `json:"Statement"`
	} `json:"policyDocument"`
	Context map[string]any `json:"context"`
}

type iamStatement struct {
	Effect   string       `json:"Effect"`
	Action   stringOrList `json:"Action"`
	Resource stringOrList `json:"Resource"`
}

type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*s = []string{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(s))
}

// allows: some statement allows execute-api:Invoke on arn and none denies it.
func allows(statements []iamStatement, arn string) bool {
	allowed := false
	for _, s := range statements {
		if !anyMatch(s.Action, "execute-api:Invoke") || !anyMatch(s.Resource, arn) {
			continue
		}
		switch s.Effect {
		case "Deny":
			return false
		case "Allow":
			allowed = true
		}
	}
	return allowed
}

func anyMatch(patterns []string, s string) bool {
	for _, p := range patterns {
		if wildcard(p, s) {
			return true
		}
	}
	return false
}

// wildcard matches IAM patterns: * any run of characters, ? one character.
func wildcard(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if wildcard(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return s == ""
}

// writeResponse maps a payload 2.0 response back to HTTP: statusCode,
// headers, cookies (each a Set-Cookie), base64 bodies. Payload 2.0 has no
// multiValueHeaders: like API Gateway, it ignores them. A response without
// statusCode is the body itself, sent with 200 and application/json (the
// format API Gateway infers; a JSON string is sent as its text).
func writeResponse(w http.ResponseWriter, out []byte) error {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(out, &probe); err != nil || probe["statusCode"] == nil {
		if !json.Valid(out) {
			return errors.New("response is not JSON")
		}
		var text string
		if json.Unmarshal(out, &text) == nil {
			out = []byte(text)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write(out)
		return nil
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return err
	}
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		return fmt.Errorf("statusCode %d", resp.StatusCode)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			return fmt.Errorf("body is not base64: %w", err)
		}
	}
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	if h.Get("Content-Type") == "" && len(body) > 0 {
		h.Set("Content-Type", "application/json")
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
	return nil
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func requestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
