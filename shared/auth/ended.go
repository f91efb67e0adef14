package auth

import "strings"

// How a session ended, as SessionEndedError tells the holder of its
// refresh token, for the client to tell its user (a demo page saying
// "signed out everywhere" rather than "expired"). Nothing here is a
// secret: whoever presents the session's refresh token learns only how the
// session they hold ended; the answer stays 401 invalid_refresh_token.
const (
	// EndedExpired: its lifetime, idle timeout or rotation limit passed.
	EndedExpired = "expired"
	// EndedHere: the user ended this session: logged out, ended it from the
	// session list (another device) or replaced it with a new login.
	EndedHere = "ended"
	// EndedLogoutAll: the user logged out of every device.
	EndedLogoutAll = "logout-all"
	// EndedRevoked: anything else: an operator's revocation, refresh token
	// reuse, a disabled or removed user, the global cutoff.
	EndedRevoked = "revoked"
)

// SessionEndedError is ErrInvalidRefreshToken for a refresh token of a
// session that has ended, saying how (one of the Ended constants). A token
// of no session, or an older token of a session (reuse), gets the bare
// ErrInvalidRefreshToken: nothing about the session.
type SessionEndedError struct{ How string }

func (e *SessionEndedError) Error() string {
	return ErrInvalidRefreshToken.Error() + ": session " + e.How
}

func (e *SessionEndedError) Unwrap() error { return ErrInvalidRefreshToken }

// endedHow sorts the reasons of deadReason and standingDead (for the logs)
// into the Ended kinds.
func endedHow(why string) string {
	switch {
	case why == "session expired" || why == "rotation limit reached" || why == "session idle too long":
		return EndedExpired
	case why == string(RevokeUser)+" revoked: logout-all": // standingDead, LogoutAll's entry
		return EndedLogoutAll
	case strings.HasPrefix(why, "session revoked: "):
		switch strings.TrimPrefix(why, "session revoked: ") {
		case "logout", "ended from the session list", "replaced by a new login", revokedByHolder:
			return EndedHere
		}
	}
	return EndedRevoked
}
