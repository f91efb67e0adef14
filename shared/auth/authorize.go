package auth

import (
	"context"
	"fmt"

	"github.com/authkit/lambda-auth/shared/token"
)

// Authorize verifies an access token (signature, header and claims: RFC 8725,
// RFC 9068 section 4) and then looks up the revocation entries for its jti,
// sid and sub: in the table itself (strict mode: one strongly consistent
// BatchGetItem, bounded by StoreTimeout) or in a replica of the revocation
// feed (a view at most its sync interval old while the store answers). Any
// error means deny: a lookup that cannot answer denies (fails closed) with
// ErrUnavailable.
func (s *Service) Authorize(ctx context.Context, raw string) (*token.Claims, error) {
	c, err := s.Verifier.Verify(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	start, ok := SessionStart(c.SessionID)
	if !ok {
		return nil, fmt.Errorf("%w: sid is not one of ours", ErrInvalidToken)
	}
	var entries []Revocation
	if _, bounded := s.Lookup.(BoundedLookup); bounded {
		entries, err = s.Lookup.Revocations(ctx, c.ID, c.SessionID, c.Subject)
	} else {
		lookup, cancel := context.WithTimeout(ctx, s.opt.StoreTimeout)
		entries, err = s.Lookup.Revocations(lookup, c.ID, c.SessionID, c.Subject)
		cancel()
	}
	if err != nil {
		return c, unavailable("authorize: revocation lookup", err)
	}
	target := Target{TokenID: c.ID, SessionID: c.SessionID, UserID: c.Subject, SessionStart: start}
	now := s.opt.Now()
	for _, r := range entries {
		if r.Covers(target, now) {
			return c, fmt.Errorf("%w: %s (%s)", ErrRevoked, r.Kind, r.Reason)
		}
	}
	return c, nil
}
