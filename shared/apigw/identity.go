package apigw

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"

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
	// AMR and AuthTime say how and when the user signed in (the token's
	// amr, space-separated in the context, and auth_time; 0: unknown).
	AMR      []string `json:"amr,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
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
	keyAMR      = "amr"
	keyAuthTime = "auth_time"
)

var identityKeys = [...]string{keyAMR, keyAuthTime, keyClientID, keyExp, keyJTI, keyScope, keySID, keySub}

func identityContext(c *token.Claims) map[string]any {
	return map[string]any{
		keySub: c.Subject, keySID: c.SessionID, keyJTI: c.ID,
		keyClientID: c.ClientID, keyScope: c.Scope, keyExp: c.ExpiresAt.Unix(),
		keyAMR: strings.Join(c.AMR, " "), keyAuthTime: authTime(c),
	}
}

func authTime(c *token.Claims) int64 {
	if c.AuthTime == nil {
		return 0
	}
	return c.AuthTime.Unix()
}

// Caller is the identity as the flows of a signed-in user take it.
func (id Identity) Caller() auth.Caller {
	c := auth.Caller{UserID: id.Subject, SessionID: id.SessionID, AMR: id.AMR}
	if id.AuthTime > 0 {
		c.AuthTime = time.Unix(id.AuthTime, 0)
	}
	return c
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
	id.ExpiresAt = contextInt(a.Lambda[keyExp])
	id.AuthTime = contextInt(a.Lambda[keyAuthTime])
	if amr, _ := a.Lambda[keyAMR].(string); amr != "" {
		id.AMR = strings.Fields(amr)
	}
	if id.Subject == "" || id.SessionID == "" {
		// Only this service's authorizer sets the context: a route deployed
		// with another authorizer in front is a deployment error (500).
		return Identity{}, errors.New("authorizer context without sub or sid: is the route behind this service's authorizer?")
	}
	return id, nil
}

// contextInt reads a number of the authorizer's context: a JSON number,
// or a string (REST APIs pass context values on as strings).
func contextInt(v any) int64 {
	switch v := v.(type) {
	case float64:
		return int64(v)
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}
