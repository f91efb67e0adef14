package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Refresh exchanges a refresh token for a new access token and a new refresh
// token (rotation, RFC 9700 4.14.2). At most three DynamoDB calls: read the
// session, read its standing (user and revocation entries, one BatchGetItem),
// rotate with a conditional write; plus one KMS Sign.
//
// The next refresh token is derived from the presented one (successor), so
// rotation is idempotent: presenting the same token again gives the same
// next token. What a presented token can be:
//   - the current token of a live session: rotated with one conditional
//     write. Of concurrent requests with it, one write wins; the others find
//     the session rotated to the same successor and get it too, each with
//     its own access token. The chain never forks.
//   - the token just replaced, within RefreshReuseGrace of the moment its
//     rotation was written: a retry after an answer that never arrived (a
//     503, a timeout, a dropped connection) or a second tab. It gets the
//     successor that rotation wrote, unless the chain has moved past it, and
//     a fresh access token; nothing is written.
//   - any older token of the session, or the replaced one after the grace
//     window: reuse, so the session is revoked with every access token it
//     issued, and the caller gets ErrInvalidRefreshToken;
//   - anything else, including a well-formed token for a real session id
//     with a wrong secret: ErrInvalidRefreshToken, nothing touched.
//
// ErrRefreshConflict is left for a replaced token whose successor was not
// derived from it (a session rotated before successors were derived).
func (s *Service) Refresh(ctx context.Context, presented string) (Tokens, error) {
	sess, h, err := s.loadPresented(ctx, presented)
	if err != nil {
		return Tokens{}, err
	}
	now := s.opt.Now()
	kind := s.classify(sess, h, now)
	switch kind {
	case presentedUnknown:
		s.Logger.InfoContext(ctx, "refresh refused: unknown token for session", "sid", sess.ID)
		return Tokens{}, ErrInvalidRefreshToken
	case presentedReused:
		return Tokens{}, s.reuseDetected(ctx, sess, now)
	}
	next := s.successor(presented, sess.ID)
	if kind == presentedGrace && !equalHash(sess.TokenHash, hashToken(next)) {
		if !sess.RevokedAt.IsZero() {
			return Tokens{}, ErrInvalidRefreshToken
		}
		s.Logger.InfoContext(ctx, "refresh conflict: token rotated moments ago to a token not derived from it", "sid", sess.ID, "sub", sess.UserID)
		return Tokens{}, ErrRefreshConflict
	}

	if why := s.sessionDead(sess, now); why != "" {
		s.Logger.InfoContext(ctx, "refresh refused", "sid", sess.ID, "sub", sess.UserID, "reason", why)
		return Tokens{}, &SessionEndedError{How: endedHow(why)}
	}
	standing, err := s.Sessions.SessionStanding(ctx, sess)
	if err != nil {
		return Tokens{}, unavailable("refresh: read standing", err)
	}
	if why := standingDead(sess, standing, now); why != "" {
		s.Logger.InfoContext(ctx, "refresh refused", "sid", sess.ID, "sub", sess.UserID, "reason", why)
		return Tokens{}, &SessionEndedError{How: endedHow(why)}
	}

	// Scopes follow the user record, so a change takes effect at the next
	// refresh.
	sess.Scope = strings.Join(standing.User.Scopes, " ")
	access, ttl, err := s.issueAccess(ctx, sess, now)
	if err != nil {
		return Tokens{}, err
	}
	tokens := Tokens{AccessToken: access, ExpiresIn: ttl, RefreshToken: next,
		RefreshExpiresAt: sess.ExpiresAt, SessionID: sess.ID, UserID: sess.UserID, Scope: sess.Scope}
	if kind == presentedGrace {
		s.Logger.InfoContext(ctx, "refresh repeated within the grace window: same successor", "sid", sess.ID, "sub", sess.UserID)
		return tokens, nil
	}
	if err := s.rotate(ctx, sess, h, next); err != nil {
		return Tokens{}, err
	}
	s.Logger.InfoContext(ctx, "refresh", "sid", sess.ID, "sub", sess.UserID)
	return tokens, nil
}

// rotate writes the rotation from the presented token (hash h) to next. The
// replaced token's grace window starts at the moment the write is sent, not
// at the start of the request, and the write gets at most half the window:
// a client whose answer was lost learns it (503) in time to retry within
// the window.
func (s *Service) rotate(ctx context.Context, sess *Session, h []byte, next string) error {
	wctx, cancel := context.WithTimeout(ctx, s.rotateTimeout())
	defer cancel()
	current, err := s.Sessions.RotateSession(wctx, Rotation{
		SessionID: sess.ID, Presented: h, Next: hashToken(next), Scope: sess.Scope, At: s.opt.Now(),
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, ErrRotationConflict) {
		return unavailable("refresh: rotate", err)
	}
	// The condition failed: the session is not at the presented token any
	// more, and current is it as it now is (nil: deleted).
	switch {
	case current == nil || !current.RevokedAt.IsZero():
		s.Logger.InfoContext(ctx, "refresh refused: session ended during the rotation", "sid", sess.ID, "sub", sess.UserID)
		return ErrInvalidRefreshToken
	case equalHash(current.TokenHash, hashToken(next)):
		// This very rotation is in place: an earlier attempt of our write
		// landed (its answer was lost and the SDK retried), or a concurrent
		// request with the same token made it.
		return nil
	}
	s.Logger.InfoContext(ctx, "refresh conflict: session rotated elsewhere", "sid", sess.ID, "sub", sess.UserID)
	return ErrRefreshConflict
}

// rotateTimeout bounds the rotation write: half the grace window, at least
// 500 ms (and never past the request's own deadline).
func (s *Service) rotateTimeout() time.Duration { return rotateTimeout(s.opt.RefreshReuseGrace) }

func rotateTimeout(grace time.Duration) time.Duration { return max(grace/2, 500*time.Millisecond) }

// graceWindow is how long after rotated_at the replaced token is still
// answered with its successor: ReplacedTokenWindow(RefreshReuseGrace).
func (s *Service) graceWindow() time.Duration { return ReplacedTokenWindow(s.opt.RefreshReuseGrace) }

// ReplacedTokenWindow is how long after its rotation's rotated_at stamp a
// replaced refresh token is answered with its successor, for a grace
// window of grace (REFRESH_REUSE_GRACE). rotated_at is stamped when the
// write is sent; DynamoDB applies it at most the write's timeout later
// (else the caller got a 503 and retries), so this is grace counted from
// the moment the rotation was written. Past it, the token is reuse. 0
// turns it off.
func ReplacedTokenWindow(grace time.Duration) time.Duration {
	if grace <= 0 {
		return 0
	}
	return grace + rotateTimeout(grace)
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
		if w := s.graceWindow(); w > 0 && now.Sub(sess.RotatedAt) <= w {
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
	if !sess.RevokedAt.IsZero() {
		// Ended already, its revocation complete (the mark is written last):
		// a replay writes nothing, so replays cannot grow the feed.
		return ErrInvalidRefreshToken
	}
	s.Logger.WarnContext(ctx, "refresh token reuse detected: revoking session", "sid", sess.ID, "sub", sess.UserID)
	if err := s.endSession(ctx, sess.ID, "refresh token reuse", now, sess.UserID); err != nil {
		return err
	}
	return fmt.Errorf("%w: %w", ErrInvalidRefreshToken, ErrRefreshTokenReused)
}

// endSession kills the access tokens of a session, then ends its refresh
// chain: the revocation (entry and feed) first, the session's mark last.
// A session marked ended therefore has its revocation complete, and callers
// acting on a client's request skip it (a retry of a half-done one, not yet
// marked, writes everything again and completes it). by is the user whose
// request it is ("" for an operator): putRevocation.
func (s *Service) endSession(ctx context.Context, sid, reason string, now time.Time, by string) error {
	if err := s.putRevocation(ctx, NewRevocation(RevokeSession, sid, now, reason), by); err != nil {
		return unavailable("revoke session", err)
	}
	if err := s.Sessions.EndSession(ctx, sid, reason, now); err != nil {
		return unavailable("end session", err)
	}
	return nil
}

// sessionDead says why the session record itself no longer allows refresh.
func (s *Service) sessionDead(sess *Session, now time.Time) string {
	return deadReason(sess, now, s.opt.RefreshIdleTimeout)
}

// deadReason is the rule of sessionDead for an idle timeout (0: none):
// refresh and the device list share it.
func deadReason(sess *Session, now time.Time, idle time.Duration) string {
	switch {
	case !sess.RevokedAt.IsZero():
		return "session revoked: " + sess.Reason
	case !now.Before(sess.ExpiresAt):
		return "session expired"
	case len(sess.Retired) >= MaxRotations:
		return "rotation limit reached"
	case idle > 0 && now.Sub(sess.LastUsedAt) > idle:
		return "session idle too long"
	}
	return ""
}

// standingDead says why the user or a revocation entry ends the session.
func standingDead(sess *Session, st Standing, now time.Time) string {
	target := Target{SessionID: sess.ID, UserID: sess.UserID, SessionStart: sess.CreatedAt}
	for _, r := range st.Revocations {
		if r.Covers(target, now) {
			if r.Kind == RevokeAll {
				return "every session revoked (global cutoff): " + r.Reason
			}
			return string(r.Kind) + " revoked: " + r.Reason
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
	return s.endPresented(ctx, presented, "logout", s.opt.Now())
}

// endPresented ends the session of a refresh token: its current token, the
// one just replaced or any older one. A token that is no token of ours ends
// nothing and is not an error.
func (s *Service) endPresented(ctx context.Context, presented, reason string, now time.Time) error {
	sess, h, err := s.loadPresented(ctx, presented)
	if errors.Is(err, ErrInvalidRefreshToken) {
		return nil
	}
	if err != nil {
		return err
	}
	// A token of no session of ours ends nothing; a session already ended
	// (its revocation complete) is not written again: repeated logouts
	// cannot grow the revocation feed.
	if s.classify(sess, h, now) == presentedUnknown || !sess.RevokedAt.IsZero() {
		return nil
	}
	if err := s.endSession(ctx, sess.ID, reason, now, sess.UserID); err != nil {
		return err
	}
	s.Logger.InfoContext(ctx, "session ended", "sid", sess.ID, "sub", sess.UserID, "reason", reason)
	return nil
}
