package apigw

import (
	"errors"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/jsonscan"
)

// AuthorizerOption configures the Authorizer handler.
type AuthorizerOption func(*authorizerConfig)

type authorizerConfig struct {
	proofs    auth.ProofVerifier
	origin    string
	plainHTTP bool
	boundOnly bool
}

// WithBoundTokensOnly makes the authorizer deny every access token bound
// to no DPoP key (no cnf.jkt), as Bearer or DPoP: DPOP_MODE required
// (auth.ResourceAuthorizer.RequireBound, RFC 9449 7.1 and 7.2).
func WithBoundTokensOnly() AuthorizerOption {
	return func(c *authorizerConfig) { c.boundOnly = true }
}

// WithResourceDPoP makes the authorizer take DPoP-bound access tokens
// ("Authorization: DPoP <token>" with a DPoP proof header, RFC 9449 7.1),
// checked by proofs against the request's method and public URL. origin,
// when not empty, is the scheme and host clients address the API at
// (PUBLIC_ORIGIN; see PublicURL); else, with plainHTTP (an http://
// localhost issuer: scripts/dev), the URL is http:// + the event's own
// domain, as the token endpoint's (DPoPConfig.PlainHTTP). Without this
// option the DPoP scheme is refused. A DPoP-bound token sent as a bearer
// token is refused either way (RFC 9449 7.2).
func WithResourceDPoP(proofs auth.ProofVerifier, origin string, plainHTTP bool) AuthorizerOption {
	return func(c *authorizerConfig) { c.proofs, c.origin, c.plainHTTP = proofs, origin, plainHTTP }
}

// dpopEvent is what a DPoP check reads of an authorizer event besides the
// Authorization header: the DPoP header fields and the parts of the
// request's public URL.
type dpopEvent struct {
	proofs     []string
	method     string
	domainName string
	stage      string
	path       string // rawPath (HTTP API) or requestContext.path (REST)
}

// errOddEvent is an authorizer event that scanDPoP does not read: a shape
// API Gateway does not send. The request is denied.
var errOddEvent = errors.New("authorizer event: a shape API Gateway does not send (duplicate or differently cased fields, escapes, other types)")

// scanDPoP reads what a DPoP check needs from an authorizer event: the
// values of every header field named DPoP in any case (multiValueHeaders,
// when the event has them, as a REST API's has, else headers: an HTTP
// API joins repeated fields with commas, which the proof check refuses),
// the method (requestContext.http.method, or requestContext.httpMethod),
// and requestContext.domainName and stage with the path (rawPath, or
// requestContext.path). Any field it reads appearing twice, a name in
// another case, an escaped or non-ASCII name or a value of another type
// fails: the caller denies.
func scanDPoP(raw []byte) (dpopEvent, error) {
	var ev dpopEvent
	s := jsonscan.New(raw, 64)
	if !s.BeginObject() {
		return ev, errOddEvent
	}
	var single, multi []string
	var seen uint
	for s.More() {
		name := s.Name()
		if !name.ASCII() {
			return ev, errOddEvent
		}
		f, ok := field(name.Raw(), &seen, "headers", "multiValueHeaders", "rawPath", "requestContext")
		if !ok {
			return ev, errOddEvent
		}
		switch f {
		case "headers":
			ok = scanDPoPHeaders(&s, &single, false)
		case "multiValueHeaders":
			ok = scanDPoPHeaders(&s, &multi, true)
			if multi == nil {
				multi = []string{}
			}
		case "rawPath":
			ev.path, ok = scanString(&s)
		case "requestContext":
			ok = scanRequestContext(&s, &ev)
		default:
			s.Skip()
		}
		if !ok {
			return ev, errOddEvent
		}
	}
	s.End()
	if s.Finish() != nil {
		return ev, errOddEvent
	}
	ev.proofs = single
	if multi != nil {
		ev.proofs = multi
	}
	return ev, nil
}

// field returns name if it is one of want, "" if it is none of them nor a
// case variant of one; ok is false for a variant, or for a name seen
// before (seen holds a bit per name of want).
func field(name []byte, seen *uint, want ...string) (string, bool) {
	for i, w := range want {
		if string(name) == w {
			if *seen&(1<<i) != 0 {
				return "", false
			}
			*seen |= 1 << i
			return w, true
		}
		if asciiEqualFold(name, w) {
			return "", false
		}
	}
	return "", true
}

// scanDPoPHeaders appends to out the values of the header fields named
// DPoP in any case: strings, or (multi) arrays of strings.
func scanDPoPHeaders(s *jsonscan.Scanner, out *[]string, multi bool) bool {
	switch s.Peek() {
	case jsonscan.Null:
		s.Literal()
		return s.Err() == nil
	case jsonscan.Object:
	default:
		return false
	}
	s.BeginObject()
	for s.More() {
		name := s.Name()
		if !name.ASCII() {
			return false
		}
		if !asciiEqualFold(name.Raw(), "dpop") {
			s.Skip()
			continue
		}
		if !multi {
			v, ok := scanString(s)
			if !ok {
				return false
			}
			*out = append(*out, v)
			continue
		}
		if !s.BeginArray() {
			return false
		}
		for s.More() {
			v, ok := scanString(s)
			if !ok {
				return false
			}
			*out = append(*out, v)
		}
		s.End()
	}
	s.End()
	return s.Err() == nil
}

// scanRequestContext reads domainName, stage, path, httpMethod and
// http.method of an event's requestContext.
func scanRequestContext(s *jsonscan.Scanner, ev *dpopEvent) bool {
	if !s.BeginObject() {
		return false
	}
	var seen uint
	var restPath, restMethod string
	for s.More() {
		name := s.Name()
		if !name.ASCII() {
			return false
		}
		f, ok := field(name.Raw(), &seen, "domainName", "stage", "path", "httpMethod", "http")
		if !ok {
			return false
		}
		switch f {
		case "domainName":
			ev.domainName, ok = scanString(s)
		case "stage":
			ev.stage, ok = scanString(s)
		case "path":
			restPath, ok = scanString(s)
		case "httpMethod":
			restMethod, ok = scanString(s, "GET", "POST", "PUT", "PATCH", "DELETE")
		case "http":
			ok = scanHTTP(s, ev)
		default:
			s.Skip()
		}
		if !ok {
			return false
		}
	}
	s.End()
	if ev.method == "" {
		ev.method = restMethod
	} else if restMethod != "" {
		return false // two methods: not an event API Gateway sends
	}
	if restPath != "" {
		if ev.path != "" {
			return false // rawPath and requestContext.path: not an event API Gateway sends
		}
		ev.path = restPath
	}
	return s.Err() == nil
}

// scanHTTP reads requestContext.http.method (HTTP API, payload 2.0).
func scanHTTP(s *jsonscan.Scanner, ev *dpopEvent) bool {
	if !s.BeginObject() {
		return false
	}
	var seen uint
	for s.More() {
		name := s.Name()
		if !name.ASCII() {
			return false
		}
		f, ok := field(name.Raw(), &seen, "method")
		if !ok {
			return false
		}
		if f == "method" {
			if ev.method, ok = scanString(s, "GET", "POST", "PUT", "PATCH", "DELETE"); !ok {
				return false
			}
			continue
		}
		s.Skip()
	}
	s.End()
	return s.Err() == nil
}

// resourceRequest is the auth.ResourceRequest of an authorizer event
// whose Authorization header is authorization. The event is read again
// (scanDPoP) only for the DPoP scheme. A TOKEN authorizer's event has
// neither a DPoP header nor a URL: its DPoP requests are refused for the
// missing proof.
func resourceRequest(raw []byte, authorization, origin string, plainHTTP bool) (auth.ResourceRequest, error) {
	req := auth.ResourceRequest{Authorization: authorization}
	if scheme, _, _ := auth.ParseAuthorization(authorization); scheme != auth.DPoP {
		return req, nil
	}
	ev, err := scanDPoP(raw)
	if err != nil {
		return req, err
	}
	req.Proofs, req.Method = ev.proofs, ev.method
	if origin == "" && plainHTTP && validDomain(ev.domainName) {
		origin = "http://" + ev.domainName
	}
	req.URL = func() (string, error) { return PublicURL(origin, ev.domainName, ev.stage, ev.path) }
	return req, nil
}
