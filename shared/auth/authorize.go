package auth

import (
	"context"
	"fmt"

	"github.com/authkit/lambda-auth/shared/token"
)

// Authorize verifies an access token (signature, header and claims: RFC 8725,
// RFC 9068 section 4) and then checks the revocation table with one strongly
// consistent BatchGetItem for its jti, sid and sub entries, bounded by
// StoreTimeout. Any error means deny: an unreachable or slow store denies
// (fails closed) with ErrUnavailable.
func (s *Service) Authorize(ctx context.Context, raw string) (*token.Claims, error) {
	c, err := s.Verifier.Verify(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	start, ok := SessionStart(c.SessionID)
	if !ok {
		return nil, fmt.Errorf("%w: sid is not one of ours", ErrInvalidToken)
	}
	lookup, cancel := context.WithTimeout(ctx, s.opt.StoreTimeout)
	defer cancel()
	entries, err := s.Revocations.Revocations(lookup, c.ID, c.SessionID, c.Subject)
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
