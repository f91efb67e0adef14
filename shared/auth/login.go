package auth

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/authkit/lambda-auth/shared/password"
	"github.com/authkit/lambda-auth/shared/token"
)

// Login checks a username and password and starts a session. previous is
// the refresh token the client still holds, if any (the refresh cookie a
// browser sends along): once the password is right, its session ends
// before the new one starts, so a device holds one session at a time
// (ASVS 5.0 7.2.4).
//
// Unknown users, disabled users and wrong passwords get the same error after
// the same argon2id work. Attempts are counted per normalized username,
// existing or not (so lockouts reveal no account), atomically and before
// any password work: of a burst of parallel guesses exactly the allowed
// number is checked, the rest are refused with a ThrottledError.
func (s *Service) Login(ctx context.Context, username, pw, previous string, opts ...LoginOption) (Tokens, error) {
	var dev device
	for _, o := range opts {
		o(&dev)
	}
	if pw == "" || len(pw) > password.MaxBytes {
		return Tokens{}, ErrInvalidRequest
	}
	name, nameErr := password.NormalizeUsername(username)
	if nameErr != nil {
		// No such account can exist; spend the same work as for one.
		s.VerifyPassword(password.Dummy(), pw)
		return Tokens{}, ErrInvalidCredentials
	}
	now := s.opt.Now()
	// Attempts are counted under a keyed hash of the name, never the name:
	// a password typed into the username field must not sit in the table.
	throttleKey := s.throttleKey(name)
	// A count is kept a day after the last attempt, so waiting out a lock
	// does not reset it (only a successful login does).
	window := max(24*time.Hour, 2*s.opt.LoginLockoutMax)

	// Read the user and count this attempt at the same time.
	var user *User
	var userErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		user, userErr = s.Users.User(ctx, name)
	}()
	att, err := s.Users.ReserveLoginAttempt(ctx, throttleKey, now, now.Add(window))
	<-done
	if err != nil {
		return Tokens{}, unavailable("login: count attempt", err)
	}
	if userErr != nil {
		return Tokens{}, unavailable("login: read user", userErr)
	}
	who := s.logName(name, user)
	if att.LockedUntil.After(now) {
		s.Logger.WarnContext(ctx, "login refused: locked", "user", who, "attempts", att.Count)
		return Tokens{}, &ThrottledError{RetryAfter: att.LockedUntil.Sub(now)}
	}
	allow := att.Allow
	if allow == 0 {
		allow = s.opt.LoginMaxFailures
	}
	if att.Count > allow { // beyond the allowance: a burst, or a lock just set by another request
		until := now.Add(s.lockout(att.Count))
		if err := s.Users.LockLogin(ctx, throttleKey, att.Count, until, until.Add(window)); err != nil {
			return Tokens{}, unavailable("login: lock", err)
		}
		s.Logger.WarnContext(ctx, "login refused: too many attempts", "user", who, "attempts", att.Count)
		return Tokens{}, &ThrottledError{RetryAfter: until.Sub(now)}
	}

	hash := password.Dummy()
	if user != nil {
		hash = user.PasswordHash
	}
	ok, verr := s.VerifyPassword(hash, pw)
	if verr != nil {
		s.Logger.ErrorContext(ctx, "stored password hash unusable", "user", who, "err", verr)
		s.VerifyPassword(password.Dummy(), pw)
	}
	if !ok || user == nil || user.Disabled || user.ID == "" {
		reason := "bad password"
		switch {
		case user == nil:
			reason = "unknown user"
		case user.ID == "":
			reason = "user record without user_id"
		case user.Disabled && ok:
			reason = "disabled user"
		}
		s.Logger.InfoContext(ctx, "login failed", "user", who, "reason", reason, "attempts", att.Count)
		if att.Count >= allow {
			until := now.Add(s.lockout(att.Count))
			if err := s.Users.LockLogin(ctx, throttleKey, att.Count, until, until.Add(window)); err != nil {
				return Tokens{}, unavailable("login: lock", err)
			}
			// One lock per failed check that sets it; the burst path above
			// only extends a lock being set, and is not counted.
			s.Metrics.LoginLockout()
		}
		return Tokens{}, ErrInvalidCredentials
	}

	// The password was right: the attempt does not count against the name,
	// even if what follows fails (a KMS or DynamoDB outage is not a
	// failed login).
	if err := s.Users.ClearLoginFailures(ctx, throttleKey, att.Count); err != nil {
		s.Logger.WarnContext(ctx, "clear login attempts", "user", who, "err", err)
	}
	// A user whose entry covers a session starting now (an entry typed
	// by hand without cutoff or with one in the future, or "every session
	// until" a moment) gets no session, as a disabled user gets none: no
	// token is ever minted for a session a revocation covers, which is
	// what lets the authorizers' replicas keep only the last token
	// lifetime of the feed (shared/replica).
	// The session's start is what its id carries (milliseconds,
	// SessionStart), as the authorizer will read it.
	start := now.Truncate(time.Millisecond)
	// The global entry (RevokeAll) is read with it: after a cutoff in the
	// past, a session starting now is after it and lives.
	entries, err := s.Revocations.UserRevocations(ctx, user.ID)
	if err != nil {
		return Tokens{}, unavailable("login: read the user's revocations", err)
	}
	for _, r := range entries {
		if !r.Covers(Target{UserID: user.ID, SessionStart: start}, now) {
			continue
		}
		// A user entry whose cutoff is in the near future (an escalated
		// revocation budget, FeedBudgetWindow) or "every session until" a
		// moment soon: come back then (429, Retry-After). Anything else
		// (no cutoff, one far off, the global entry): the user cannot log
		// in, as a disabled user cannot.
		until := r.AllUntil
		if r.RevokedAt.After(until) {
			until = r.RevokedAt
		}
		if wait := until.Sub(now); r.Kind == RevokeUser && !r.RevokedAt.IsZero() && wait > 0 && wait <= retryableRevocation {
			s.Logger.InfoContext(ctx, "login refused until the user's revocation cutoff", "user", who, "until", until)
			return Tokens{}, &ThrottledError{RetryAfter: wait + time.Millisecond}
		}
		s.Logger.InfoContext(ctx, "login failed", "user", who, "reason", "every session of the user is revoked",
			"entry", string(r.Kind), "until", r.ExpiresAt)
		return Tokens{}, ErrInvalidCredentials
	}
	if previous != "" {
		if err := s.endPresented(ctx, previous, "replaced by a new login", now); err != nil {
			return Tokens{}, err
		}
	}
	tokens, err := s.startSession(ctx, user, s.opt.ClientID, dev, now)
	if err != nil {
		return Tokens{}, err
	}
	s.Logger.InfoContext(ctx, "login", "sub", user.ID, "sid", tokens.SessionID)
	return tokens, nil
}

// retryableRevocation is how far off a user entry's cutoff (or
// "every session until") may be for login to answer "retry then" (429)
// rather than "refused" (401): the revocation budget's window, with room.
const retryableRevocation = 2 * FeedBudgetWindow

// LoginOption tells Login about the device, besides the credentials.
type LoginOption func(*device)

type device struct{ userAgent string }

// MaxUserAgentLen bounds the User-Agent stored with a session: the device
// list shows it, and a client chooses what it sends.
const MaxUserAgentLen = 256

// UserAgent records the device's User-Agent header with the session the
// login starts, as the device list shows it (ASVS 5.0 7.5.2): invalid
// UTF-8, control characters and format characters (bidi overrides,
// zero-width spaces: they could make one device's name read as another's,
// or as "this device") are dropped, and it is cut to MaxUserAgentLen bytes
// on a character boundary.
func UserAgent(ua string) LoginOption {
	return func(d *device) { d.userAgent = cleanUserAgent(ua) }
}

func cleanUserAgent(ua string) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(ua, "") {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > MaxUserAgentLen {
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// logName is how a login attempt names its user in logs: the username of an
// existing account, but only a keyed hash prefix of an unknown one, which
// may be a password typed into the wrong field (an unkeyed hash of it could
// be searched with a dictionary).
func (s *Service) logName(name string, user *User) string {
	if user != nil {
		return name
	}
	return "unknown:" + hex.EncodeToString(s.keyed("log-name", name)[:6])
}

// throttleKey is the login throttle table's key for a normalized username.
func (s *Service) throttleKey(name string) string {
	return hex.EncodeToString(s.keyed("login-throttle", name)[:16])
}

// lockout is how long a username waits after attempt n: LoginLockoutBase,
// doubling with each attempt past LoginMaxFailures, at most LoginLockoutMax.
func (s *Service) lockout(n int) time.Duration {
	wait := s.opt.LoginLockoutBase
	for i := s.opt.LoginMaxFailures; i < n && wait < s.opt.LoginLockoutMax; i++ {
		wait *= 2
	}
	return min(wait, s.opt.LoginLockoutMax)
}

// startSession signs the first access token and only then writes the
// session, so a KMS failure leaves nothing behind and a failed write hands
// out no token: there is never a session without a token nor a token
// without a session.
func (s *Service) startSession(ctx context.Context, user *User, clientID string, dev device, now time.Time) (Tokens, error) {
	sid := newSessionID(now)
	refresh := newRefreshToken(sid)
	sess := &Session{
		ID:         sid,
		UserID:     user.ID,
		Username:   user.Username,
		ClientID:   clientID,
		Scope:      strings.Join(user.Scopes, " "),
		TokenHash:  hashToken(refresh),
		CreatedAt:  now,
		RotatedAt:  now,
		LastUsedAt: now,
		ExpiresAt:  now.Add(s.opt.RefreshTokenTTL),
		UserAgent:  dev.userAgent,
	}
	access, ttl, err := s.issueAccess(ctx, sess, now)
	if err != nil {
		return Tokens{}, err
	}
	if err := s.Sessions.CreateSession(ctx, sess); err != nil {
		return Tokens{}, unavailable("login: create session", err)
	}
	return Tokens{AccessToken: access, ExpiresIn: ttl, RefreshToken: refresh,
		RefreshExpiresAt: sess.ExpiresAt, SessionID: sid, UserID: user.ID, Scope: sess.Scope}, nil
}

// issueAccess signs an access token for the session: one KMS Sign call. It
// never outlives the session.
func (s *Service) issueAccess(ctx context.Context, sess *Session, now time.Time) (string, time.Duration, error) {
	exp := now.Add(s.opt.AccessTokenTTL)
	if sess.ExpiresAt.Before(exp) {
		exp = sess.ExpiresAt
	}
	exp = exp.Truncate(time.Second)
	iat := now.Truncate(time.Second)
	c := &token.Claims{SessionID: sess.ID, ClientID: sess.ClientID, Scope: sess.Scope}
	c.Issuer = s.opt.Issuer
	c.Subject = sess.UserID
	c.Audience = []string{s.opt.Audience}
	c.IssuedAt = token.NumericDate(iat)
	c.ExpiresAt = token.NumericDate(exp)
	c.ID = randomID(16) // 128 random bits
	raw, err := token.Issue(ctx, s.Signer, c)
	if err != nil {
		if errors.Is(err, token.ErrMissingClaim) {
			return "", 0, err
		}
		return "", 0, unavailable("sign access token", err)
	}
	return raw, exp.Sub(now).Round(time.Second), nil
}
