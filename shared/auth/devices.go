package auth

import (
	"context"
	"fmt"
	"time"
)

// Device is one live session as its user sees it in the device list
// (OWASP ASVS 5.0 7.5.2: users can view their active sessions and end
// any of them). It holds nothing secret: no token and no hash.
type Device struct {
	SessionID  string
	ClientID   string
	UserAgent  string // as the device sent it at login; "" for sessions started before it was kept
	CreatedAt  time.Time
	LastUsedAt time.Time // the last refresh (rotation), or the login
	ExpiresAt  time.Time // the session's absolute end
	Current    bool      // the session of the access token that asked
}

// Devices lists the live sessions of userID, newest first: one Query of
// the sessions table's live-by-user index and one read of the revocation
// entries that could end them. current is the caller's own session id
// (the access token's sid), marked in the list. truncated reports that
// the user has more sessions than one Query page holds.
func (s *Service) Devices(ctx context.Context, userID, current string) (devices []Device, truncated bool, err error) {
	now := s.opt.Now()
	found, err := s.Directory.UserSessions(ctx, userID, now)
	if err != nil {
		return nil, false, unavailable("list sessions", err)
	}
	for _, sess := range liveSessions(found, userID, now, s.opt.RefreshIdleTimeout) {
		devices = append(devices, Device{
			SessionID: sess.ID, ClientID: sess.ClientID, UserAgent: sess.UserAgent,
			CreatedAt: sess.CreatedAt, LastUsedAt: sess.LastUsedAt, ExpiresAt: sess.ExpiresAt,
			Current: sess.ID == current,
		})
	}
	return devices, found.Truncated, nil
}

// liveSessions keeps the sessions of userID that nothing has ended at
// now: not marked ended, not past their absolute end, not idle for more
// than idle (REFRESH_IDLE_TIMEOUT; 0: no limit), and covered by no
// revocation entry (a logout-all leaves its sessions unmarked: its user
// entry ends them). Refresh's rules (deadReason, Revocation.Covers); a
// session at MaxRotations is listed until its next refresh fails (the
// index does not hold its rotations).
func liveSessions(found UserSessions, userID string, now time.Time, idle time.Duration) []Session {
	var live []Session
	for _, sess := range found.Sessions {
		if sess.UserID != userID || deadReason(&sess, now, idle) != "" {
			continue
		}
		target := Target{SessionID: sess.ID, UserID: sess.UserID, SessionStart: sess.CreatedAt}
		covered := false
		for _, r := range found.Revocations {
			if r.Covers(target, now) {
				covered = true
				break
			}
		}
		if !covered {
			live = append(live, sess)
		}
	}
	return live
}

// EndDevice ends one session of userID, chosen from the device list, and
// every access token it issued: a session revocation entry, then the
// session marked ended (endSession, as logout and the console revoke do).
// A session id that is not one of userID's sessions, another user's
// included, is ErrSessionNotFound: the two are not told apart. Ending an
// ended session of the user again is not an error and writes nothing:
// the mark is written last, so a marked session's revocation is complete
// (repeated requests cannot grow the revocation feed every authorizer
// reads); an end that failed half-way, entry without mark, completes.
func (s *Service) EndDevice(ctx context.Context, userID, sid string) error {
	if _, ok := SessionStart(sid); !ok {
		return fmt.Errorf("%w: a session id is 32 base64url characters", ErrInvalidRequest)
	}
	sess, err := s.Sessions.Session(ctx, sid)
	if err != nil {
		return unavailable("read session", err)
	}
	if sess == nil || sess.UserID != userID {
		s.Logger.InfoContext(ctx, "end session refused: not the caller's", "sid", sid, "sub", userID)
		return ErrSessionNotFound
	}
	if !sess.RevokedAt.IsZero() {
		return nil
	}
	if err := s.endSession(ctx, sid, "ended from the device list", s.opt.Now(), userID); err != nil {
		return err
	}
	s.Logger.InfoContext(ctx, "session ended", "sid", sid, "sub", userID, "reason", "ended from the device list")
	return nil
}
