package token

import (
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Type is the JOSE "typ" of access tokens (RFC 9068 section 2.1).
const Type = "at+jwt"

// Claims are the claims of an access token: the RFC 9068 section 2.2 set
// plus "sid", the session the token belongs to.
type Claims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
	ClientID  string `json:"client_id"`
	Scope     string `json:"scope,omitempty"`
}

// required reports the first claim the service relies on that is missing.
// RFC 9068 section 2.2 makes iss, exp, aud, sub, client_id, iat and jti
// required; sid is ours (revocation of a session).
func (c *Claims) required() string {
	switch {
	case c.Issuer == "":
		return "iss"
	case c.Subject == "":
		return "sub"
	case len(c.Audience) == 0:
		return "aud"
	case c.ExpiresAt == nil:
		return "exp"
	case c.IssuedAt == nil:
		return "iat"
	case c.ID == "":
		return "jti"
	case c.SessionID == "":
		return "sid"
	case c.ClientID == "":
		return "client_id"
	}
	return ""
}

// NumericDate converts t to a JWT NumericDate (whole seconds).
func NumericDate(t time.Time) *jwt.NumericDate { return jwt.NewNumericDate(t) }
