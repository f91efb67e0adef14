package auth

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Refresh exchanges a refresh token for a new access token and a new refresh
// token (rotation, RFC 9700 4.14.2). At most three DynamoDB calls: read the
// session, read its standing (user and revocation entries, one BatchGetItem),
// rotate with a conditional write; plus one KMS Sign.
//
// What a presented token can be:
//   - the current token of a live session: rotated; exactly one of several
//     concurrent requests wins the conditional write, the others get
//     ErrRefreshConflict and the session is untouched;
//   - the token just replaced, within RefreshReuseGrace of the rotation
//     (two tabs refreshing at once): ErrRefreshConflict, nothing revoked and
//     nothing issued, so the session never forks; the client retries with
//     the token the winner received (a browser already has it as a cookie);
//   - any older token of the session, or the replaced one after the grace
//     window: reuse, so the session is revoked with every access token it
//     issued, and the caller gets ErrInvalidRefreshToken;
//   - anything else, including a well-formed token for a real session id
//     with a wrong secret: ErrInvalidRefreshToken, nothing touched.
func (s *Service) Refresh(ctx context.Context, presented string) (Tokens, error) {
	sess, h, err := s.loadPresented(ctx, presented)
	if err != nil {
		return Tokens{}, err
	}
	now := s.opt.Now()
	switch s.classify(sess, h, now) {
	case presentedUnknown:
		s.Logger.InfoContext(ctx, "refresh refused: unknown token for session", "sid", sess.ID)
		return Tokens{}, ErrInvalidRefreshToken
	case presentedGrace:
		if !sess.RevokedAt.IsZero() {
			return Tokens{}, ErrInvalidRefreshToken
		}
		s.Logger.InfoContext(ctx, "refresh conflict: token rotated moments ago", "sid", sess.ID, "sub", sess.UserID)
		return Tokens{}, ErrRefreshConflict
	case presentedReused:
		return Tokens{}, s.reuseDetected(ctx, sess, now)
	}

	if why := s.sessionDead(sess, now); why != "" {
		s.Logger.InfoContext(ctx, "refresh refused", "sid", sess.ID, "sub", sess.UserID, "reason", why)
		return Tokens{}, ErrInvalidRefreshToken
	}
	standing, err := s.Sessions.SessionStanding(ctx, sess)
	if err != nil {
		return Tokens{}, unavailable("refresh: read standing", err)
	}
	if why := standingDead(sess, standing, now); why != "" {
		s.Logger.InfoContext(ctx, "refresh refused", "sid", sess.ID, "sub", sess.UserID, "reason", why)
		return Tokens{}, ErrInvalidRefreshToken
	}

	// Scopes follow the user record, so a change takes effect at the next
	// refresh.
	sess.Scope = strings.Join(standing.User.Scopes, " ")
	next := newRefreshToken(sess.ID)
	access, ttl, err := s.issueAccess(ctx, sess, now)
	if err != nil {
		return Tokens{}, err
	}
	current, err := s.Sessions.RotateSession(ctx, Rotation{
		SessionID: sess.ID, Presented: h, Next: hashToken(next), Scope: sess.Scope, At: now,
	})
	switch {
	case errors.Is(err, ErrRotationConflict):
		// Another request rotated (or something revoked) the session between
		// our read and our write; the token just signed is dropped unseen.
		// DynamoDB returns the item as it now is; when it does not (the
		// local stand-in), a conflict is the answer: it issues nothing, and
		// the client's retry with its current token meets any revocation.
		if current != nil && !current.RevokedAt.IsZero() {
			return Tokens{}, ErrInvalidRefreshToken
		}
		s.Logger.InfoContext(ctx, "refresh conflict: concurrent rotation", "sid", sess.ID, "sub", sess.UserID)
		return Tokens{}, ErrRefreshConflict
	case err != nil:
		return Tokens{}, unavailable("refresh: rotate", err)
	}
	s.Logger.InfoContext(ctx, "refresh", "sid", sess.ID, "sub", sess.UserID)
	return Tokens{AccessToken: access, ExpiresIn: ttl, RefreshToken: next,
		RefreshExpiresAt: sess.ExpiresAt, SessionID: sess.ID, UserID: sess.UserID}, nil
}

// loadPresented parses a refresh token and reads its session. A malformed
// token or a missing session costs no more than that read.
func (s *Service) loadPresented(ctx context.Context, presented string) (*Session, []byte, error) {
	sid, ok := parseRefreshToken(presented)
	if !ok {
		return nil, nil, ErrInvalidRefreshToken
	}
	sess, err := s.Sessions.Session(ctx, sid)
	if err != nil {
		return nil, nil, unavailable("read session", err)
	}
	if sess == nil {
		return nil, nil, ErrInvalidRefreshToken
	}
	return sess, hashToken(presented), nil
}

type presentedKind int

const (
	presentedUnknown presentedKind = iota
	presentedCurrent
	presentedGrace
	presentedReused
)

func (s *Service) classify(sess *Session, h []byte, now time.Time) presentedKind {
	switch {
	case equalHash(sess.TokenHash, h):
		return presentedCurrent
	case equalHash(sess.PrevHash, h):
		if now.Sub(sess.RotatedAt) <= s.opt.RefreshReuseGrace {
			return presentedGrace
		}
		return presentedReused
	case sess.isRetired(h):
		return presentedReused
	}
	return presentedUnknown
}

// reuseDetected revokes the session of a rotated-out token and every access
// token it issued (RFC 9700 4.14.2): the legitimate client and an attacker
// both hold tokens of this chain and we cannot tell which is which.
func (s *Service) reuseDetected(ctx context.Context, sess *Session, now time.Time) error {
	s.Logger.WarnContext(ctx, "refresh token reuse detected: revoking session", "sid", sess.ID, "sub", sess.UserID)
	if err := s.endSession(ctx, sess.ID, "refresh token reuse", now); err != nil {
		return err
	}
	return ErrInvalidRefreshToken
}

// endSession kills the access tokens of a session, then ends its refresh
// chain. The revocation entry comes first and is written again even when
// the session is already marked ended: if a previous attempt failed between
// the two writes, a retry completes it instead of stopping at the mark.
func (s *Service) endSession(ctx context.Context, sid, reason string, now time.Time) error {
	err := s.Revocations.PutRevocation(ctx, Revocation{
		Kind: RevokeSession, Value: sid, RevokedAt: now,
		ExpiresAt: now.Add(revocationLifetime()), Reason: reason,
	})
	if err != nil {
		return unavailable("revoke session", err)
	}
	if err := s.Sessions.EndSession(ctx, sid, reason, now); err != nil {
		return unavailable("end session", err)
	}
	return nil
}

// sessionDead says why the session record itself no longer allows refresh.
func (s *Service) sessionDead(sess *Session, now time.Time) string {
	switch {
	case !sess.RevokedAt.IsZero():
		return "session revoked: " + sess.Reason
	case !now.Before(sess.ExpiresAt):
		return "session expired"
	case len(sess.Retired) >= MaxRotations:
		return "rotation limit reached"
	case s.opt.RefreshIdleTimeout > 0 && now.Sub(sess.LastUsedAt) > s.opt.RefreshIdleTimeout:
		return "session idle too long"
	}
	return ""
}

// standingDead says why the user or a revocation entry ends the session.
func standingDead(sess *Session, st Standing, now time.Time) string {
	for _, r := range st.Revocations {
		if !r.Live(now) {
			continue
		}
		switch r.Kind {
		case RevokeSession:
			if r.Value == sess.ID {
				return "session revoked"
			}
		case RevokeUser:
			if r.Value == sess.UserID && (r.RevokedAt.IsZero() || !sess.CreatedAt.After(r.RevokedAt)) {
				return "all sessions of the user revoked"
			}
		}
	}
	switch {
	case st.User == nil:
		return "user gone"
	case st.User.ID == "":
		return "user record without user_id" // login refuses it too; no token without a sub
	case st.User.ID != sess.UserID:
		return "username now names another user"
	case st.User.Disabled:
		return "user disabled"
	}
	return ""
}

// Logout ends the session of a refresh token (this device). Unknown,
// malformed or already ended tokens are not an error: the caller is logged
// out either way. A rotated-out token ends the session too.
func (s *Service) Logout(ctx context.Context, presented string) error {
	sess, h, err := s.loadPresented(ctx, presented)
	if errors.Is(err, ErrInvalidRefreshToken) {
		return nil
	}
	if err != nil {
		return err
	}
	now := s.opt.Now()
	if s.classify(sess, h, now) == presentedUnknown {
		return nil
	}
	if err := s.endSession(ctx, sess.ID, "logout", now); err != nil {
		return err
	}
	s.Logger.InfoContext(ctx, "logout", "sid", sess.ID, "sub", sess.UserID)
	return nil
}
