package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/authkit/lambda-auth/shared/password"
	"github.com/authkit/lambda-auth/shared/token"
)

// Login checks a username and password and starts a session.
//
// Unknown users, disabled users and wrong passwords get the same error after
// the same argon2id work. Failed attempts are counted per normalized
// username, existing or not, so lockouts do not reveal which accounts exist;
// a locked username gets a ThrottledError before any password hashing.
func (s *Service) Login(ctx context.Context, username, pw string) (Tokens, error) {
	if pw == "" || len(pw) > password.MaxBytes {
		return Tokens{}, ErrInvalidRequest
	}
	name, nameErr := password.NormalizeUsername(username)
	if nameErr != nil {
		// No such account can exist; spend the same work as for one.
		password.Verify(password.Dummy(), pw)
		return Tokens{}, ErrInvalidCredentials
	}

	user, throttle, err := s.Users.LoginRecord(ctx, name)
	if err != nil {
		return Tokens{}, unavailable("login: read user", err)
	}
	now := s.opt.Now()
	if throttle != nil && !now.Before(throttle.ExpiresAt) {
		throttle = nil // expired: DynamoDB TTL deletes lazily
	}
	if wait := s.lockout(throttle, now); wait > 0 {
		s.Logger.WarnContext(ctx, "login throttled", "username", name, "failures", throttle.Failures)
		return Tokens{}, &ThrottledError{RetryAfter: wait}
	}

	hash := password.Dummy()
	if user != nil {
		hash = user.PasswordHash
	}
	ok, verr := password.Verify(hash, pw)
	if verr != nil {
		s.Logger.ErrorContext(ctx, "stored password hash unusable", "username", name, "err", verr)
		password.Verify(password.Dummy(), pw)
	}
	if !ok || user == nil || user.Disabled {
		reason := "bad password"
		if user == nil {
			reason = "unknown user"
		} else if user.Disabled && ok {
			reason = "disabled user"
		}
		s.Logger.InfoContext(ctx, "login failed", "username", name, "reason", reason)
		expires := now.Add(s.opt.LoginLockoutMax + 15*time.Minute)
		if err := s.Users.RecordLoginFailure(ctx, name, now, expires, throttle == nil); err != nil {
			return Tokens{}, unavailable("login: record failure", err)
		}
		return Tokens{}, ErrInvalidCredentials
	}

	tokens, err := s.startSession(ctx, user, s.opt.ClientID, now)
	if err != nil {
		return Tokens{}, err
	}
	if throttle != nil {
		if err := s.Users.ClearLoginFailures(ctx, name); err != nil {
			s.Logger.WarnContext(ctx, "clear login failures", "username", name, "err", err)
		}
	}
	s.Logger.InfoContext(ctx, "login", "sub", user.ID, "sid", tokens.SessionID)
	return tokens, nil
}

// lockout returns how long the username must wait: after LoginMaxFailures
// failures, LoginLockoutBase doubling with each further failure, capped at
// LoginLockoutMax, counted from the last failure.
func (s *Service) lockout(t *Throttle, now time.Time) time.Duration {
	if t == nil || t.Failures < s.opt.LoginMaxFailures {
		return 0
	}
	wait := s.opt.LoginLockoutBase
	for i := s.opt.LoginMaxFailures; i < t.Failures && wait < s.opt.LoginLockoutMax; i++ {
		wait *= 2
	}
	wait = min(wait, s.opt.LoginLockoutMax)
	left := t.LastFailureAt.Add(wait).Sub(now)
	return max(left, 0)
}

// startSession signs the first access token and only then writes the
// session, so a KMS failure leaves nothing behind and a failed write hands
// out no token: there is never a session without a token nor a token
// without a session.
func (s *Service) startSession(ctx context.Context, user *User, clientID string, now time.Time) (Tokens, error) {
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
	}
	access, ttl, err := s.issueAccess(ctx, sess, now)
	if err != nil {
		return Tokens{}, err
	}
	if err := s.Sessions.CreateSession(ctx, sess); err != nil {
		return Tokens{}, unavailable("login: create session", err)
	}
	return Tokens{AccessToken: access, ExpiresIn: ttl, RefreshToken: refresh,
		RefreshExpiresAt: sess.ExpiresAt, SessionID: sid, UserID: user.ID}, nil
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
