package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/authkit/lambda-auth/shared/dpop"
	"github.com/authkit/lambda-auth/shared/token"
)

// ProofVerifier checks a DPoP proof against the request it came with
// (dpop.Verifier, with its replay store).
type ProofVerifier interface {
	Verify(ctx context.Context, proof string, req dpop.Request) (*dpop.Proof, error)
}

// ResourceRequest is a request to a protected resource as the
// authorizer (API Gateway's, or shared/guard) sees it.
type ResourceRequest struct {
	// Authorization is the Authorization header: "Bearer <token>" or
	// "DPoP <token>".
	Authorization string
	// Proofs are the values of the request's DPoP header fields, as
	// received (RFC 9449 4.1).
	Proofs []string
	// Method is the request's method; URL, its public URL (the one the
	// client addressed: apigw.PublicURL). URL is asked for only when the
	// scheme is DPoP and a proof is there; an error (or a nil URL) denies.
	Method string
	URL    func() (string, error)
}

// ResourceAuthorizer decides on requests to protected resources that
// carry an access token as a bearer token (RFC 6750) or as a DPoP-bound
// one (RFC 9449 7). The token is checked by the Authorizer (its verified
// token cache included); the proof, new at every request, by the
// ProofVerifier.
type ResourceAuthorizer struct {
	authz  *Authorizer
	proofs ProofVerifier
}

// NewResourceAuthorizer returns the resource authorizer over authz and
// proofs.
// A nil proofs refuses the DPoP scheme: Bearer only.
func NewResourceAuthorizer(authz *Authorizer, proofs ProofVerifier) *ResourceAuthorizer {
	required("ResourceAuthorizer", authz)
	return &ResourceAuthorizer{authz: authz, proofs: proofs}
}

// Authorizer is the token authorizer underneath.
func (r *ResourceAuthorizer) Authorizer() *Authorizer { return r.authz }

// Scheme is how a request presents its access token.
type Scheme int

// The schemes of the Authorization header.
const (
	NoScheme Scheme = iota // no header, or one of no scheme taken here
	Bearer                 // RFC 6750 2.1
	DPoP                   // RFC 9449 7.1
)

// ParseAuthorization splits an Authorization header into its scheme and
// token: "Bearer <token>" as token.Bearer reads it, or "DPoP <token>"
// (the scheme name in any case, RFC 9110 11.1) with one compact JWS of
// at most token.MaxTokenBytes, base64url and dots, as this service
// issues them. ok is false for anything else.
func ParseAuthorization(h string) (Scheme, string, bool) {
	if len(h) > 5 && strings.EqualFold(h[:5], "DPoP ") {
		t := h[5:]
		return DPoP, t, t != "" && len(t) <= token.MaxTokenBytes && jwsChars(t)
	}
	if strings.HasPrefix(h, "Bearer ") {
		t, ok := token.Bearer(h)
		return Bearer, t, ok
	}
	return NoScheme, "", false
}

// jwsChars reports whether every byte of s is base64url or '.'.
func jwsChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// ErrNoToken is a request without an access token of a scheme taken here.
var ErrNoToken = fmt.Errorf("%w: no Bearer or DPoP access token", ErrInvalidToken)

// ErrDPoPBinding comes with ErrInvalidToken when a token's binding and
// its scheme disagree: a DPoP-bound token sent as a bearer token (RFC 9449
// 7.2), or a token bound to no key sent with the DPoP scheme (7.1).
var ErrDPoPBinding = errors.New("the token's DPoP binding does not match its scheme")

// Authorize decides on req. It returns the token's claims, or an error
// that wraps ErrInvalidToken (no token, a bad one, a DPoP-bound token
// sent as a bearer token, a bearer token sent as DPoP), ErrRevoked,
// ErrUnavailable (revocations, or the replay store, could not be
// checked), or dpop.ErrInvalidProof (the proof is missing, several, or
// fails a check of RFC 9449 4.3). The token is checked first: a proof is
// checked, and recorded against replay, only for a good token.
func (r *ResourceAuthorizer) Authorize(ctx context.Context, req ResourceRequest) (*token.Claims, error) {
	scheme, raw, ok := ParseAuthorization(req.Authorization)
	if !ok {
		return nil, ErrNoToken
	}
	c, err := r.authz.Authorize(ctx, raw)
	if err != nil {
		return c, err
	}
	jkt := c.BoundKey() // cnf.jkt (RFC 9449 6.1)
	if scheme == Bearer {
		// RFC 9449 7.2: a resource that takes both schemes MUST reject a
		// DPoP-bound access token received as a bearer token, or binding
		// would be undone by changing one word of the header.
		if jkt != "" {
			return c, fmt.Errorf("%w: %w: a DPoP-bound token (cnf.jkt) sent as a Bearer token (RFC 9449 7.2)", ErrInvalidToken, ErrDPoPBinding)
		}
		return c, nil
	}
	// RFC 9449 7.1: the DPoP scheme is for DPoP-bound tokens: the
	// resource server confirms that the key the token is bound to is the
	// proof's key, which a token without cnf.jkt cannot pass. Taking one
	// would also let a proof-less bearer token pass for a bound one in logs
	// and metrics.
	if jkt == "" {
		return c, fmt.Errorf("%w: %w: a token without cnf.jkt sent with the DPoP scheme (RFC 9449 7.1)", ErrInvalidToken, ErrDPoPBinding)
	}
	if r.proofs == nil {
		return c, fmt.Errorf("%w: %w: DPoP is not enabled here", ErrInvalidToken, ErrDPoPBinding)
	}
	// RFC 9449 4.3 step 1: exactly one DPoP header field.
	switch len(req.Proofs) {
	case 0:
		return c, fmt.Errorf("%w: no DPoP header with a DPoP token (RFC 9449 7.1)", dpop.ErrMalformed)
	case 1:
	default:
		return c, fmt.Errorf("%w: %d DPoP header fields (RFC 9449 4.3 step 1)", dpop.ErrMalformed, len(req.Proofs))
	}
	if req.URL == nil {
		return c, fmt.Errorf("%w: the request's public URL is not known", dpop.ErrURI)
	}
	url, err := req.URL()
	if err != nil {
		return c, fmt.Errorf("%w: the request's public URL: %v", dpop.ErrURI, err)
	}
	// RFC 9449 4.3 and 7.1: the proof names this request (htm, htu), this
	// token (ath) and is signed by the token's key (jkt); iat is in the
	// window and the proof is seen once (11.1).
	if _, err := r.proofs.Verify(ctx, req.Proofs[0], dpop.Request{Method: req.Method, URL: url, AccessToken: raw, BoundKey: jkt}); err != nil {
		if errors.Is(err, dpop.ErrInvalidProof) || errors.Is(err, dpop.ErrUseNonce) {
			return c, err
		}
		return c, unavailable("authorize: dpop replay store", err)
	}
	return c, nil
}

// StepUpFor is the Authorizer's step-up rule for the route (RFC 9470),
// after the token and its proof were checked.
func (r *ResourceAuthorizer) StepUpFor(routeKey, method string, c *token.Claims) error {
	return r.authz.StepUpFor(routeKey, method, c)
}

// HasStepUp reports whether any route has a step-up rule.
func (r *ResourceAuthorizer) HasStepUp() bool { return len(r.authz.stepUp) > 0 }
