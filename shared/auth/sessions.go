package auth

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// ListedSession is one live session as its user sees it in the session
// list (OWASP ASVS 5.0 7.5.2: users can view their active sessions and end
// any of them). It holds nothing secret: no token and no hash.
type ListedSession struct {
	SessionID  string
	ClientID   string
	UserAgent  string // as the device sent it at login; "" for sessions started before it was kept
	CreatedAt  time.Time
	LastUsedAt time.Time // the last refresh (rotation), or the login
	ExpiresAt  time.Time // the session's absolute end
	Current    bool      // the session of the access token that asked
}

// SessionList lists a user's live sessions: GET /auth/sessions.
type SessionList struct {
	directory SessionDirectory
	idle      time.Duration
	now       func() time.Time
}

// NewSessionList builds the session list over directory; it applies
// refresh's idle timeout (RefreshIdleTimeout).
func NewSessionList(directory SessionDirectory, o Options) *SessionList {
	required("SessionList", directory)
	o = o.withDefaults()
	return &SessionList{directory: directory, idle: o.RefreshIdleTimeout, now: o.Now}
}

// List lists the live sessions of userID, newest first: one Query of
// the sessions table's live-by-user index and one read of the revocation
// entries that could end them. current is the caller's own session id
// (the access token's sid), marked in the list. truncated reports that
// the user has more sessions than one Query page holds.
func (l *SessionList) List(ctx context.Context, userID, current string) (list []ListedSession, truncated bool, err error) {
	now := l.now()
	found, err := l.directory.UserSessions(ctx, userID, now)
	if err != nil {
		return nil, false, unavailable("list sessions", err)
	}
	for _, sess := range liveSessions(found, userID, now, l.idle) {
		list = append(list, ListedSession{
			SessionID: sess.ID, ClientID: sess.ClientID, UserAgent: sess.UserAgent,
			CreatedAt: sess.CreatedAt, LastUsedAt: sess.LastUsedAt, ExpiresAt: sess.ExpiresAt,
			Current: sess.ID == current,
		})
	}
	return list, found.Truncated, nil
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

// SessionEnd ends one session chosen from the session list:
// DELETE /auth/sessions/{id}.
type SessionEnd struct {
	sessions Sessions
	end      *sessionEnder
	log      *slog.Logger
	now      func() time.Time
}

// NewSessionEnd builds the flow that ends one of the caller's sessions: it
// reads the session and ends it through revoker (the caller's budget pays).
func NewSessionEnd(sessions Sessions, revoker *Revoker, o Options) *SessionEnd {
	required("SessionEnd", sessions, revoker)
	o = o.withDefaults()
	return &SessionEnd{sessions: sessions, end: newSessionEnder(sessions, revoker, o), log: o.Logger, now: o.Now}
}

// End ends one session of userID, chosen from the session list, and every
// access token it issued: a session revocation entry, then the session
// marked ended (as logout and the console revoke end one). A session id
// that is not one of userID's sessions, another user's included, is
// ErrSessionNotFound: the two are not told apart. Ending an ended session
// of the user again is not an error and writes nothing: the mark is
// written last, so a marked session's revocation is complete (repeated
// requests cannot grow the revocation feed every authorizer reads); an
// end that failed half-way, entry without mark, completes.
func (e *SessionEnd) End(ctx context.Context, userID, sid string) error {
	if _, ok := sessionStartOf(sid); !ok {
		return fmt.Errorf("%w: a session id is 32 base64url characters", ErrInvalidRequest)
	}
	sess, err := e.sessions.Session(ctx, sid)
	if err != nil {
		return unavailable("read session", err)
	}
	if sess == nil || sess.UserID != userID {
		e.log.InfoContext(ctx, "end session refused: not the caller's", "sid", sid, "sub", userID)
		return ErrSessionNotFound
	}
	if !sess.RevokedAt.IsZero() {
		return nil
	}
	const reason = "ended from the session list"
	if err := e.end.end(ctx, sid, reason, e.now(), userID); err != nil {
		return err
	}
	e.log.InfoContext(ctx, "session ended", "sid", sid, "sub", userID, "reason", reason)
	return nil
}
