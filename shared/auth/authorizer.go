package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/authkit/lambda-auth/shared/token"
)

// Authorizer decides whether an access token is good: the API Gateway
// authorizer, shared/guard, and the OAuth endpoints that must know
// (TokenRevocation, TokenIntrospection).
type Authorizer struct {
	verifier      TokenVerifier
	lookup        RevocationLookup
	lookupTimeout time.Duration
	now           func() time.Time
	stepUp        StepUpRules // per route (WithStepUp, stepup.go)
}

// NewAuthorizer builds the authorizer: verifier checks signatures and
// claims, lookup finds revocation entries. lookupTimeout bounds each
// lookup: the authorizer's budget for a read of the table itself
// (AUTHORIZER_STORE_TIMEOUT, strict mode); 0 adds no deadline, for a
// lookup that bounds its own reads (a replica syncs within its own
// SyncTimeout, and most of the time reads nothing at all).
func NewAuthorizer(verifier TokenVerifier, lookup RevocationLookup, lookupTimeout time.Duration, o Options) *Authorizer {
	required("Authorizer", verifier, lookup)
	if lookupTimeout < 0 || lookupTimeout == 0 && lookup.Window() == NoWindowLimit {
		// A read of the table per request with no deadline would hang
		// requests on a slow store instead of denying them.
		panic(fmt.Sprintf("auth: NewAuthorizer: lookup timeout %s for a lookup that reads the table per request", lookupTimeout))
	}
	return &Authorizer{verifier: verifier, lookup: lookup, lookupTimeout: lookupTimeout, now: o.withDefaults().Now}
}

// Authorize verifies an access token (signature, header and claims: RFC 8725,
// RFC 9068 section 4) and then looks up the revocation entries for its jti,
// sid and sub: in the table itself (strict mode: one strongly consistent
// BatchGetItem, bounded by the lookup timeout) or in a replica of the
// revocation feed (a view at most its sync interval old while the store
// answers). Any error means deny: a lookup that cannot answer denies (fails
// closed) with ErrUnavailable.
func (a *Authorizer) Authorize(ctx context.Context, raw string) (*token.Claims, error) {
	c, err := a.verifier.Verify(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	start, ok := sessionStartOf(c.SessionID)
	if !ok {
		return nil, fmt.Errorf("%w: sid is not one of ours", ErrInvalidToken)
	}
	var entries []Revocation
	if a.lookupTimeout <= 0 {
		entries, err = a.lookup.Revocations(ctx, c.ID, c.SessionID, c.Subject)
	} else {
		lookup, cancel := context.WithTimeout(ctx, a.lookupTimeout)
		entries, err = a.lookup.Revocations(lookup, c.ID, c.SessionID, c.Subject)
		cancel()
	}
	if err != nil {
		return c, unavailable("authorize: revocation lookup", err)
	}
	target := Target{TokenID: c.ID, SessionID: c.SessionID, UserID: c.Subject, SessionStart: start}
	now := a.now()
	for _, r := range entries {
		if r.Covers(target, now) {
			return c, fmt.Errorf("%w: %s (%s)", ErrRevoked, r.Kind, r.Reason)
		}
	}
	return c, nil
}
