package apigw

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/metrics"
)

// The routes of template.yaml that the metadata document names.
const (
	TokenPath         = "/auth/refresh"
	RevocationPath    = "/auth/revoke"
	IntrospectionPath = "/auth/introspect"
	JWKSPath          = "/.well-known/jwks.json"
)

// TokenRevocation handles POST /auth/revoke, the OAuth 2.0 revocation endpoint
// (RFC 7009 section 2): a form with token and an optional token_type_hint.
// It answers 200 whether or not the token was valid (2.2), 400
// invalid_request without a token, 401 invalid_client to a client that
// authenticates (ours are public), 503 when the store failed (2.2.1). The
// refresh cookie a browser sends along is not read: the token to revoke is
// the one in the body. A failed dependency is counted (DependencyError);
// the service counts the revocations it writes.
func TokenRevocation(svc *auth.TokenRevocation, log *slog.Logger, met *metrics.Recorder) Handler {
	return func(ctx context.Context, req Request) (Response, error) {
		ctx, cancel := withReplyReserve(ctx)
		defer cancel()
		p, err := decodeForm(req)
		if err != nil {
			return OAuthError(ctx, log, err), nil
		}
		if header(req.Headers, "authorization") != "" {
			return OAuthError(ctx, log, invalidClient()), nil
		}
		tok := p.Get("token")
		if tok == "" {
			return OAuthError(ctx, log, badRequest("token is required (RFC 7009 2.1)")), nil
		}
		if err := svc.Revoke(ctx, tok); err != nil {
			return oauthAnswer(ctx, log, met, err), nil
		}
		return JSON(200, struct{}{}), nil
	}
}

// IntrospectionResponse is the RFC 7662 section 2.2 answer. An inactive
// token is only {"active": false}.
type IntrospectionResponse struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Nbf       int64    `json:"nbf,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	Jti       string   `json:"jti,omitempty"`
	Sid       string   `json:"sid,omitempty"`
}

// TokenIntrospection handles POST /auth/introspect, the OAuth 2.0 introspection
// endpoint (RFC 7662 section 2), for callers API Gateway has authenticated
// with SigV4 (the route's AWS_IAM authorization; RFC 7662 2.1 and 4: the
// endpoint must require authorization, or it lets anyone fish for valid
// tokens). A request without the IAM identity in its context came by a
// route deployed without AWS_IAM and is refused (401 invalid_client), so
// a deployment mistake fails closed. Each answer is logged with the
// caller's ARN, never the token. A failed dependency is counted
// (DependencyError).
func TokenIntrospection(svc *auth.TokenIntrospection, log *slog.Logger, met *metrics.Recorder) Handler {
	return func(ctx context.Context, req Request) (Response, error) {
		ctx, cancel := withReplyReserve(ctx)
		defer cancel()
		a := req.RequestContext.Authorizer
		if a == nil || a.IAM == nil || a.IAM.UserARN == "" {
			log.ErrorContext(ctx, "introspection refused: no IAM caller in the request context (is the route's authorization AWS_IAM?)")
			// No Basic challenge: the scheme is SigV4, checked by API Gateway.
			return Error(ctx, log, &requestError{401, "invalid_client", "introspection requires a request signed with AWS credentials (SigV4)"}), nil
		}
		caller := a.IAM.UserARN
		p, err := decodeForm(req)
		if err != nil {
			return OAuthError(ctx, log, err), nil
		}
		tok := p.Get("token")
		if tok == "" {
			return OAuthError(ctx, log, badRequest("token is required (RFC 7662 2.1)")), nil
		}
		in, err := svc.Introspect(ctx, tok)
		if err != nil {
			return oauthAnswer(ctx, log, met, err), nil
		}
		if !in.Active {
			log.InfoContext(ctx, "introspection", "caller", caller, "active", false)
			return JSON(200, IntrospectionResponse{}), nil
		}
		c := in.Claims
		out := IntrospectionResponse{Active: true, Scope: c.Scope, ClientID: c.ClientID, TokenType: "Bearer",
			Sub: c.Subject, Aud: c.Audience, Iss: c.Issuer, Jti: c.ID, Sid: c.SessionID}
		if c.ExpiresAt != nil {
			out.Exp = c.ExpiresAt.Unix()
		}
		if c.IssuedAt != nil {
			out.Iat = c.IssuedAt.Unix()
		}
		if c.NotBefore != nil {
			out.Nbf = c.NotBefore.Unix()
		}
		log.InfoContext(ctx, "introspection", "caller", caller, "active", true, "jti", c.ID, "sub", c.Subject)
		return JSON(200, out), nil
	}
}

// Metadata is the authorization server's metadata (RFC 8414 section 2),
// served at both well-known locations (RFC 8414 section 3 and OpenID
// Connect Discovery 1.0 section 4). Every URL is the issuer followed by a
// route of this API, so the issuer must be the API's base URL (its custom
// domain, or its execute-api URL).
//
// What is left out, and why: authorization_endpoint (no grant uses one),
// response_types_supported (RFC 8414 makes it required, section 3.2
// forbids empty arrays; erratum 7793 makes it required only with an
// authorization endpoint), scopes_supported (scopes come from each user
// record), introspection_endpoint_auth_methods_supported (SigV4 is no
// registered method; section 2: "if omitted, the set of supported
// authentication methods MUST be determined by other means").
type Metadata struct {
	Issuer                                 string   `json:"issuer"`
	JWKSURI                                string   `json:"jwks_uri"`
	TokenEndpoint                          string   `json:"token_endpoint"`
	GrantTypesSupported                    []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported      []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpoint                     string   `json:"revocation_endpoint"`
	RevocationEndpointAuthMethodsSupported []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpoint                  string   `json:"introspection_endpoint"`
	// The algorithms of the keys in the JWKS, current key first. OpenID
	// Connect names no field for access tokens; libraries that configure
	// themselves from discovery (and API Gateway's JWT authorizer) read
	// the verification algorithms from this one. No ID token is issued.
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	SubjectTypesSupported            []string `json:"subject_types_supported"`
	// DPoPSigningAlgValuesSupported are the algorithms a DPoP proof may
	// be signed with (RFC 9449 5.1); absent when DPoP is off.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
}

// NewMetadata is the metadata document of issuer, whose keys sign with
// algs. grant_types_supported is given because its default
// (authorization_code, implicit) would be wrong; the auth method "none"
// because the default (client_secret_basic) would be.
func NewMetadata(issuer string, algs []string) Metadata {
	return Metadata{
		Issuer:                                 issuer,
		JWKSURI:                                issuer + JWKSPath,
		TokenEndpoint:                          issuer + TokenPath,
		GrantTypesSupported:                    []string{"refresh_token"},
		TokenEndpointAuthMethodsSupported:      []string{"none"},
		RevocationEndpoint:                     issuer + RevocationPath,
		RevocationEndpointAuthMethodsSupported: []string{"none"},
		IntrospectionEndpoint:                  issuer + IntrospectionPath,
		IDTokenSigningAlgValuesSupported:       algs,
		SubjectTypesSupported:                  []string{"public"},
	}
}

// WellKnown serves a document built at init (the JWKS, the metadata)
// that caches may keep for maxAge: keep a retired key in VERIFY_KEY_IDS
// for at least that long plus the access token lifetime.
func WellKnown(doc []byte, contentType string, maxAge time.Duration) Handler {
	return func(ctx context.Context, req Request) (Response, error) {
		h := securityHeaders()
		h["content-type"] = contentType
		h["cache-control"] = "public, max-age=" + strconv.Itoa(int(maxAge.Seconds()))
		delete(h, "pragma")
		return Response{StatusCode: 200, Headers: h, Body: string(doc)}, nil
	}
}

// Document encodes a metadata document.
func (m Metadata) Document() ([]byte, error) { return json.Marshal(m) }
