package auth

// Change password (ASVS 5.0 6.2.2, 6.2.3): the current password is
// required, the new one meets the policy of user creation, and every
// session of the user ends but the caller's, which goes on as a new one.

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// MinPasswordChars is the shortest password accepted for a new password,
// as for a new user (scripts/createuser): 8 characters (ASVS 5.0 6.2.1).
const MinPasswordChars = 8

// CheckNewPassword applies the password policy of user creation: at least
// MinPasswordChars characters, at most MaxPasswordBytes bytes, valid
// UTF-8; any characters, no composition rules (ASVS 5.0 6.2.5).
func CheckNewPassword(pw string) error {
	switch {
	case !utf8.ValidString(pw):
		return fmt.Errorf("%w: the new password is not valid UTF-8", ErrInvalidRequest)
	case utf8.RuneCountInString(pw) < MinPasswordChars:
		return fmt.Errorf("%w: the new password must be at least %d characters", ErrInvalidRequest, MinPasswordChars)
	case len(pw) > MaxPasswordBytes:
		return fmt.Errorf("%w: the new password is longer than %d bytes", ErrInvalidRequest, MaxPasswordBytes)
	}
	return nil
}

// PasswordStore changes a user's password hash.
type PasswordStore interface {
	// SetPasswordHash replaces the user's hash on condition that it is
	// still old; ErrPasswordChanged otherwise.
	SetPasswordHash(ctx context.Context, username, old, next string) error
}

// ErrPasswordChanged: the password was changed by another request
// between the check of the current one and the write of the new one.
var ErrPasswordChanged = errors.New("the password was changed meanwhile")

// passwordChange is what ChangePassword needs besides Login's own.
type passwordChange struct {
	store PasswordStore
	hash  func(pw string) (string, error)
}

// WithPasswordChange lets l change passwords: store writes the new hash,
// hash makes it (password.Hash at the default cost).
func (l *Login) WithPasswordChange(store PasswordStore, hash func(pw string) (string, error)) *Login {
	required("Login.WithPasswordChange", store, hash)
	l.change = &passwordChange{store: store, hash: hash}
	return l
}

// PasswordChange is a request to change the caller's password: the
// current one, the new one, and, for a user with an active second factor,
// a TOTP code or a recovery code.
type PasswordChange struct {
	Current, Next      string
	Code, RecoveryCode string
}

// ChangePassword replaces the caller's password. The current one is
// checked as a login checks it, counted by the same throttle under the
// same key (a stolen access token is no unthrottled password oracle).
// A user with an active TOTP factor also gives a code or a recovery code,
// counted as a second-factor login's (ASVS 5.0 6.2.3 asks the current
// password; the second factor is asked too so that a phished password and
// a copied access token cannot take the account over past it). Then every
// session of the user ends with one user entry at now (the logout-all
// machinery: sessions and access tokens on every device, this one
// included), and the caller's device goes on in a new session, started
// after that cutoff, with the old session's sign-in (its amr and
// auth_time: the password check is no new sign-in, so it cannot make a
// "recent sign-in" out of a password alone) and its end (a chain of
// password changes never outlives the sign-in it came from): the tokens
// returned. ASVS 5.0 7.4.3 asks for "terminate all other active sessions"
// after a password change; the caller keeps being signed in, under a new
// session id.
func (l *Login) ChangePassword(ctx context.Context, c Caller, req PasswordChange, opts ...LoginOption) (Tokens, error) {
	current, next := req.Current, req.Next
	if l.change == nil {
		return Tokens{}, fmt.Errorf("%w: password change is not enabled", ErrInvalidRequest)
	}
	if current == "" || len(current) > MaxPasswordBytes {
		return Tokens{}, fmt.Errorf("%w: current_password is required", ErrInvalidRequest)
	}
	if err := CheckNewPassword(next); err != nil {
		return Tokens{}, err
	}
	if next == current {
		return Tokens{}, fmt.Errorf("%w: the new password is the current one", ErrInvalidRequest)
	}
	switch {
	case req.Code != "" && req.RecoveryCode != "":
		return Tokens{}, fmt.Errorf("%w: send a code or a recovery_code, not both", ErrInvalidRequest)
	case req.Code != "" && !validCode(req.Code):
		return Tokens{}, fmt.Errorf("%w: code is the 6 digits of the authenticator app", ErrInvalidRequest)
	case req.RecoveryCode != "" && normalRecoveryCode(req.RecoveryCode) == "":
		return Tokens{}, fmt.Errorf("%w: recovery_code is not a recovery code", ErrInvalidRequest)
	}
	now := l.opt.Now()
	sess, err := l.sessions.Session(ctx, c.SessionID)
	if err != nil {
		return Tokens{}, unavailable("change password: read the session", err)
	}
	if sess == nil || sess.UserID != c.UserID || !sess.RevokedAt.IsZero() || !now.Before(sess.ExpiresAt) {
		return Tokens{}, fmt.Errorf("%w: the session of this token has ended", ErrInvalidToken)
	}
	a, err := l.countAttempt(ctx, sess.Username, now)
	if err != nil {
		return Tokens{}, err
	}
	if a.user != nil && a.user.ID != c.UserID {
		a.user = nil // the name now belongs to someone else: the dummy hash, and refused
	}
	if err := l.checkPassword(ctx, a, current, now); err != nil {
		return Tokens{}, err
	}
	if err := l.users.ClearLoginFailures(ctx, a.key, a.Count); err != nil {
		l.log.WarnContext(ctx, "clear login attempts", "user", a.who, "err", err)
	}
	if err := l.checkSecondFactor(ctx, c.UserID, req, now); err != nil {
		return Tokens{}, err
	}
	hash, err := l.change.hash(next)
	if err != nil {
		return Tokens{}, fmt.Errorf("change password: hash: %w", err)
	}
	// Every session ends before the new hash is written: a failed write of
	// the revocation then leaves the old password in place (the caller
	// retries with it), never a changed password with the other sessions
	// still alive; a failed hash write after it only signs the user out.
	r, err := l.revoker.revokeUser(ctx, c.UserID, "password changed", c.UserID)
	if err != nil {
		return Tokens{}, err
	}
	if err := l.change.store.SetPasswordHash(ctx, a.user.Username, a.user.PasswordHash, hash); err != nil {
		if errors.Is(err, ErrPasswordChanged) {
			return Tokens{}, ErrInvalidCredentials
		}
		return Tokens{}, unavailable("change password: store the hash", err)
	}
	// The caller's new session starts after the cutoff (ids carry
	// milliseconds; the cutoff covers a start at or before it).
	start := now
	if min := r.RevokedAt.Truncate(time.Millisecond).Add(time.Millisecond); start.Before(min) {
		start = min
	}
	if err := l.checkUserEntries(ctx, attempt{user: a.user, who: a.who}, start); err != nil {
		return Tokens{}, err
	}
	// The device goes on: a DPoP-bound one stays bound to its key, and the
	// new session keeps the old one's sign-in (amr, auth_time). A password
	// check is not a fresh sign-in here: were it one, the password alone
	// would make a "recent sign-in" for registering a passkey or enrolling
	// a factor, past the second factor the old session was signed in with.
	dev := device{userAgent: sess.UserAgent, jkt: sess.JKT, signedIn: sess.AuthTime, ends: sess.ExpiresAt}
	for _, o := range opts {
		o(&dev)
	}
	amr := sess.AMR
	if len(amr) == 0 {
		amr = []string{AMRPassword}
	}
	tokens, err := l.start.start(ctx, a.user, amr, dev, start)
	if err != nil {
		return Tokens{}, err
	}
	l.log.InfoContext(ctx, "password changed; every other session ended", "sub", c.UserID, "sid", tokens.SessionID,
		"ended_sid", sess.ID)
	return tokens, nil
}

// checkSecondFactor asks a user with an active TOTP factor for a code or a
// recovery code (used once, counted by the code throttle as at login);
// nothing for a user without one, or when login asks no second factor.
func (l *Login) checkSecondFactor(ctx context.Context, userID string, req PasswordChange, now time.Time) error {
	if l.second == nil {
		return nil
	}
	f, err := l.second.factors.TOTPFactor(ctx, userID)
	if err != nil {
		return unavailable("change password: read the second factor", err)
	}
	if f == nil || !f.Active {
		return nil
	}
	if req.Code == "" && req.RecoveryCode == "" {
		return fmt.Errorf("%w: this account has a second factor: send its code (code) or a recovery code (recovery_code) too", ErrInvalidRequest)
	}
	return l.second.throttle.check(ctx, userID, now, func() error {
		_, err := l.second.verify.use(ctx, f, req.Code, req.RecoveryCode, now)
		return err
	})
}
