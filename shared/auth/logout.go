package auth

import (
	"context"
	"log/slog"
	"time"
)

// Logout ends the session of one device.
type Logout struct {
	end *sessionEnder
	now func() time.Time
}

// NewLogout builds the logout flow: it reads the presented token's session
// and ends it.
func NewLogout(sessions Sessions, revoker *Revoker, o Options) *Logout {
	required("Logout", sessions, revoker)
	o = o.withDefaults()
	return &Logout{end: newSessionEnder(sessions, revoker, o), now: o.Now}
}

// Logout ends the session of a refresh token (this device). Unknown,
// malformed or already ended tokens are not an error: the caller is logged
// out either way. A rotated-out token ends the session too.
func (l *Logout) Logout(ctx context.Context, presented string) error {
	return l.end.presented(ctx, presented, "logout", l.now())
}

// LogoutAll ends every session of a user.
type LogoutAll struct {
	revoker *Revoker
	log     *slog.Logger
}

// NewLogoutAll builds the logout-all flow: one user entry, nothing else.
func NewLogoutAll(revoker *Revoker, o Options) *LogoutAll {
	required("LogoutAll", revoker)
	return &LogoutAll{revoker: revoker, log: o.withDefaults().Logger}
}

// LogoutAll ends every session of a user, on every device, and every access
// token already issued to them, with one write whatever the number of
// sessions: a user revocation entry. The authorizer denies any token whose
// session started at or before it; refresh refuses those sessions too.
func (l *LogoutAll) LogoutAll(ctx context.Context, userID string) (Revocation, error) {
	r, err := l.revoker.revokeUser(ctx, userID, "logout-all", userID)
	if err != nil {
		return Revocation{}, err
	}
	l.log.InfoContext(ctx, "logout-all", "sub", userID)
	return r, nil
}
