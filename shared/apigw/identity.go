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

// The keys of the authorizer's context: the claims it passes on, under
// their JWT names. identityContext writes them, IdentityFrom reads them,
// appendSimpleResponse encodes them (identityKeys, in encoding/json's
// sorted order).
const (
	keySub      = "sub"
	keySID      = "sid"
	keyJTI      = "jti"
	keyClientID = "client_id"
	keyScope    = "scope"
	keyExp      = "exp"
)

var identityKeys = [...]string{keyClientID, keyExp, keyJTI, keyScope, keySID, keySub}

func identityContext(c *token.Claims) map[string]any {
	return map[string]any{
		keySub: c.Subject, keySID: c.SessionID, keyJTI: c.ID,
		keyClientID: c.ClientID, keyScope: c.Scope, keyExp: c.ExpiresAt.Unix(),
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
	id.Subject, _ = a.Lambda[keySub].(string)
	id.SessionID, _ = a.Lambda[keySID].(string)
	id.TokenID, _ = a.Lambda[keyJTI].(string)
	id.ClientID, _ = a.Lambda[keyClientID].(string)
	id.Scope, _ = a.Lambda[keyScope].(string)
	switch v := a.Lambda[keyExp].(type) {
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
