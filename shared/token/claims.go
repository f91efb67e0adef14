package token

import (
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Type is the JOSE "typ" of access tokens (RFC 9068 section 2.1).
const Type = "at+jwt"

// Claims are the claims of an access token: the RFC 9068 section 2.2 set
// plus "sid", the session the token belongs to, and the optional ones that
// say how the token is held and how its user signed in.
type Claims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
	ClientID  string `json:"client_id"`
	Scope     string `json:"scope,omitempty"`
	// Confirmation binds the token to a key the client proves it holds
	// (RFC 7800 section 3.1, "cnf"; RFC 9449 section 6.1: "jkt"). nil: a
	// bearer token.
	Confirmation *Confirmation `json:"cnf,omitempty"`
	// AMR lists how the user authenticated (RFC 8176 values: pwd, otp,
	// mfa, hwk, swk, user), AuthTime when (OpenID Connect Core 1.0 section
	// 2, as RFC 9068 section 2.2.1 carries them). A refresh keeps both: it
	// is not a new sign-in.
	AMR      []string         `json:"amr,omitempty"`
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`
}

// Confirmation is the "cnf" claim (RFC 7800 section 3.1) of a token bound
// to a DPoP key: JKT is the key's RFC 7638 thumbprint, base64url (RFC 9449
// section 6.1).
type Confirmation struct {
	JKT string `json:"jkt"`
}

// BoundKey returns the thumbprint of the key the token is bound to, or ""
// for a bearer token.
func (c *Claims) BoundKey() string {
	if c.Confirmation == nil {
		return ""
	}
	return c.Confirmation.JKT
}

// HasAMR reports whether the token's amr lists method m.
func (c *Claims) HasAMR(m string) bool {
	for _, v := range c.AMR {
		if v == m {
			return true
		}
	}
	return false
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
