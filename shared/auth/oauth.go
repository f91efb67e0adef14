package auth

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/authkit/lambda-auth/shared/token"
)

// revokedByHolder is the reason an RFC 7009 revocation writes.
const revokedByHolder = "revoked by its holder (RFC 7009)"

// TokenRevocation is the OAuth 2.0 revocation endpoint's flow (RFC 7009).
type TokenRevocation struct {
	authorizer *Authorizer
	revoker    *Revoker
	end        *sessionEnder
	log        *slog.Logger
	now        func() time.Time
}

// NewTokenRevocation builds the RFC 7009 flow: authorizer tells a live
// access token (its lookup should be the table itself, strongly
// consistent), sessions are read and ended for refresh tokens, revoker
// writes the entries (the holder's budget pays).
func NewTokenRevocation(authorizer *Authorizer, sessions Sessions, revoker *Revoker, o Options) *TokenRevocation {
	required("TokenRevocation", authorizer, sessions, revoker)
	o = o.withDefaults()
	return &TokenRevocation{authorizer: authorizer, revoker: revoker, end: newSessionEnder(sessions, revoker, o),
		log: o.Logger, now: o.Now}
}

// Revoke revokes a refresh token or an access token at the request of
// whoever holds it (RFC 7009 section 2.1; our clients are public, so
// holding the token is the authority to revoke it). The token's type is
// told by its form, so no type hint is needed, and none causes an extra
// lookup (RFC 7009 2.1 lets the server ignore the hint; section 5 warns
// that hints can be abused for extra database work).
//
//   - A refresh token ends its session and every access token the session
//     issued, as a logout does (2.1: "SHOULD also invalidate all access
//     tokens based on the same authorization grant").
//   - An access token that verifies (our key, issuer, audience, not
//     expired) gets a jti revocation entry, through the same store as every
//     other revocation, so the revocation feed and the authorizers see it.
//
// Anything else, an expired or already revoked access token included, is
// left alone and is no error: RFC 7009 2.2 answers 200 for invalid tokens.
// Only a store that fails is an error (ErrUnavailable).
func (v *TokenRevocation) Revoke(ctx context.Context, tok string) error {
	now := v.now()
	if _, ok := parseRefreshToken(tok); ok {
		return v.end.presented(ctx, tok, revokedByHolder, now)
	}
	// Authorize: the token verified, and its revocation entries read (the
	// table, strongly consistent). A token already revoked is not written
	// again, so repeating a revocation cannot grow the revocation feed
	// every authorizer reads.
	c, err := v.authorizer.Authorize(ctx, tok)
	switch {
	case errors.Is(err, ErrUnavailable):
		return err
	case errors.Is(err, ErrRevoked):
		return nil
	case err != nil:
		v.log.InfoContext(ctx, "revocation: not a live token of ours, nothing to do", "reason", err.Error())
		return nil
	}
	if err := v.revoker.put(ctx, NewRevocation(RevokeToken, c.ID, now, revokedByHolder), c.Subject); err != nil {
		return unavailable("revoke access token", err)
	}
	v.log.InfoContext(ctx, "access token revoked", "jti", c.ID, "sid", c.SessionID, "sub", c.Subject, "reason", revokedByHolder)
	return nil
}

// Introspection is what RFC 7662 section 2.2 answers about one token:
// Active, and for an active token its claims.
type Introspection struct {
	Active bool
	Claims *token.Claims // nil unless Active
}

// TokenIntrospection is the OAuth 2.0 introspection endpoint's flow (RFC
// 7662).
type TokenIntrospection struct {
	authorizer *Authorizer
	log        *slog.Logger
}

// NewTokenIntrospection builds the RFC 7662 flow over authorizer, whose
// lookup should be the revocation table itself, read strongly consistent.
func NewTokenIntrospection(authorizer *Authorizer, o Options) *TokenIntrospection {
	required("TokenIntrospection", authorizer)
	return &TokenIntrospection{authorizer: authorizer, log: o.withDefaults().Logger}
}

// Introspect tells whether tok is an active access token (RFC 7662 section
// 2.2): it verifies as the authorizer verifies it and no revocation entry
// covers it. The lookup is its Authorizer's; the introspection function
// wires the revocation table itself, read strongly consistent,
// so a revocation is seen at once (RFC 7662 section 4: the server must
// determine whether the token has been revoked). An invalid, expired or
// revoked token, and any refresh token, is inactive, with no reason given
// (section 2.2: "SHOULD NOT include any additional information about an
// inactive token"). Refresh tokens are never reported active: resource
// servers have no business with them, and section 2.2 lets the server
// answer inactive for a token the caller may not introspect. A lookup that
// cannot answer is ErrUnavailable, never "inactive" nor "active".
func (t *TokenIntrospection) Introspect(ctx context.Context, tok string) (Introspection, error) {
	c, err := t.authorizer.Authorize(ctx, tok)
	switch {
	case err == nil:
		return Introspection{Active: true, Claims: c}, nil
	case errors.Is(err, ErrUnavailable):
		return Introspection{}, err
	}
	attrs := []any{"reason", err.Error()}
	if c != nil {
		attrs = append(attrs, "jti", c.ID, "sid", c.SessionID, "sub", c.Subject)
	}
	t.log.InfoContext(ctx, "introspection: inactive", attrs...)
	return Introspection{}, nil
}
