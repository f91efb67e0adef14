package apigw

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// The public URL of a request is the URL its client addressed, which a DPoP
// proof names in htu (RFC 9449 4.2, checked in 4.3 step 9). API Gateway
// hands the function the parts of it, set by API Gateway itself:
//
//   - requestContext.domainName: the domain the request reached, the
//     execute-api one or a custom domain. The Host header is the
//     client's, and X-Forwarded-Host, -Proto and -Port are headers anyone
//     may send: none of them is read.
//   - the path as the client sent it: rawPath for an HTTP API (payload
//     2.0), requestContext.path for a REST API. On the execute-api domain
//     it starts with the stage, except for an HTTP API's $default stage,
//     which is served at the root; on a custom domain it starts with the
//     API mapping's base path, if any, and holds no stage (API Gateway
//     developer guide, "Custom domain names" and "API mappings").
//   - the scheme is https: API Gateway serves nothing else.
//
// Behind a CDN under another name, or on the local API (scripts/dev, plain
// http), the caller passes the origin the clients use, which then replaces
// https://domainName.

// PublicURL is the public URL, without query, of a request that reached
// domainName on stage with path (as API Gateway gives them; see above).
// origin, when not empty, is the scheme and authority clients use instead
// (for example "http://127.0.0.1:3000"). On an execute-api domain, a named
// stage must begin the path: an event that says otherwise is not one API
// Gateway sent, and is refused rather than read as some other URL.
func PublicURL(origin, domainName, stage, path string) (string, error) {
	if path == "" || path[0] != '/' || strings.ContainsAny(path, "?#") {
		return "", fmt.Errorf("public URL: path %q is not an absolute path", clipPath(path))
	}
	if !validDomain(domainName) {
		return "", fmt.Errorf("public URL: domain name %q", clipPath(domainName))
	}
	if isExecuteAPI(domainName) && stage != "" && stage != "$default" &&
		path != "/"+stage && !strings.HasPrefix(path, "/"+stage+"/") {
		return "", fmt.Errorf("public URL: path %q on %s does not start with stage %q", clipPath(path), domainName, stage)
	}
	if origin != "" {
		if strings.HasSuffix(origin, "/") || !strings.HasPrefix(origin, "https://") && !strings.HasPrefix(origin, "http://") {
			return "", errors.New("public URL: origin must be scheme://host[:port], no trailing slash")
		}
		return origin + path, nil
	}
	return "https://" + domainName + path, nil
}

// HTTPAPIURL is the public URL of an HTTP API request (payload 2.0).
func HTTPAPIURL(ev *events.APIGatewayV2HTTPRequest, origin string) (string, error) {
	return PublicURL(origin, ev.RequestContext.DomainName, ev.RequestContext.Stage, ev.RawPath)
}

// HTTPAPIAuthorizerURL is the public URL of the request an HTTP API Lambda
// authorizer (payload 2.0) is asked about.
func HTTPAPIAuthorizerURL(ev *events.APIGatewayV2CustomAuthorizerV2Request, origin string) (string, error) {
	return PublicURL(origin, ev.RequestContext.DomainName, ev.RequestContext.Stage, ev.RawPath)
}

// RESTURL is the public URL of a REST API request (Lambda proxy
// integration). Its path is requestContext.path: the event's top-level path
// lacks the stage on the execute-api domain.
func RESTURL(ev *events.APIGatewayProxyRequest, origin string) (string, error) {
	return PublicURL(origin, ev.RequestContext.DomainName, ev.RequestContext.Stage, ev.RequestContext.Path)
}

// RESTAuthorizerURL is the public URL of the request a REST API REQUEST
// authorizer is asked about. API Gateway sends requestContext.domainName
// (events/authorizer-rest-request.json) but aws-lambda-go's type has no
// field for it: the caller passes the value its decoder read. A TOKEN
// authorizer's event names no URL at all.
func RESTAuthorizerURL(ev *events.APIGatewayCustomAuthorizerRequestTypeRequest, domainName, origin string) (string, error) {
	return PublicURL(origin, domainName, ev.RequestContext.Stage, ev.RequestContext.Path)
}

// isExecuteAPI reports whether d is an API's default domain,
// {api-id}.execute-api.{region}.amazonaws.com (or .amazonaws.com.cn).
func isExecuteAPI(d string) bool {
	d = strings.ToLower(d)
	return strings.Contains(d, ".execute-api.") && (strings.HasSuffix(d, ".amazonaws.com") || strings.HasSuffix(d, ".amazonaws.com.cn"))
}

// validDomain reports whether d is a DNS name (letters, digits, '-', '.'),
// with an optional numeric port.
func validDomain(d string) bool {
	host, port, hasPort := strings.Cut(d, ":")
	if host == "" || hasPort && port == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return false
		}
	}
	return true
}

// clipPath shortens request text that goes into an error to 64 bytes.
func clipPath(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:64] + "..."
}
