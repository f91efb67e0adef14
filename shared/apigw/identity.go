package apigw

import (
	"errors"
	"strconv"

	"github.com/authkit/lambda-auth/shared/token"
)

// Identity is what the authorizer passes to protected routes, in
// requestContext.authorizer.lambda (HTTP API) or requestContext.authorizer
// (REST).
type Identity struct {
	Subject   string `json:"sub"`
	SessionID string `json:"sid"`
	TokenID   string `json:"jti"`
	ClientID  string `json:"client_id"`
	Scope     string `json:"scope"`
	ExpiresAt int64  `json:"exp"`
}

func identityContext(c *token.Claims) map[string]any {
	return map[string]any{
		"sub": c.Subject, "sid": c.SessionID, "jti": c.ID,
		"client_id": c.ClientID, "scope": c.Scope, "exp": c.ExpiresAt.Unix(),
	}
}

// IdentityFrom reads the authorizer's context from a protected route's
// request. A route behind the authorizer always has it; its absence means
// the route was deployed without the authorizer, and the request is refused.
func IdentityFrom(req Request) (Identity, error) {
	a := req.RequestContext.Authorizer
	if a == nil || a.Lambda == nil {
		return Identity{}, &requestError{401, "unauthorized", "this route requires an access token"}
	}
	var id Identity
	id.Subject, _ = a.Lambda["sub"].(string)
	id.SessionID, _ = a.Lambda["sid"].(string)
	id.TokenID, _ = a.Lambda["jti"].(string)
	id.ClientID, _ = a.Lambda["client_id"].(string)
	id.Scope, _ = a.Lambda["scope"].(string)
	switch v := a.Lambda["exp"].(type) {
	case float64:
		id.ExpiresAt = int64(v)
	case string:
		id.ExpiresAt, _ = strconv.ParseInt(v, 10, 64)
	}
	if id.Subject == "" || id.SessionID == "" {
		// Only this service's authorizer sets the context: a route deployed
		// with another authorizer in front is a deployment error (500).
		return Identity{}, errors.New("authorizer context without sub or sid: is the route behind this service's authorizer?")
	}
	return id, nil
}
