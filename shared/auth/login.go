package auth

import (
	"context"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Login checks credentials and starts sessions.
type Login struct {
	users    Users
	sessions Sessions
	revoker  *Revoker
	issuer   *AccessIssuer
	mac      macKey
	verify   PasswordCheck
	dummy    string
	met      Metrics
	end      *sessionEnder
	start    sessionStarter
	second   *SecondFactor   // nil: no second factor is asked (WithSecondFactor)
	change   *passwordChange // nil: no password change (WithPasswordChange)
	opt      Options
	log      *slog.Logger
}

// NewLogin builds the login flow: it reads users and counts their
// attempts, checks passwords with pw.Verify (password.Verify), reads the
// user's revocation entries and ends the session a login replaces through
// revoker, signs the first access token with issuer, writes the session,
// and keys throttle entries and log names with macKey; met counts
// lockouts.
func NewLogin(users Users, sessions Sessions, revoker *Revoker, issuer *AccessIssuer, macKey []byte,
	pw Passwords, met Metrics, o Options) *Login {
	required("Login", users, sessions, revoker, issuer, pw.Verify, met)
	userRevoker("Login", revoker)
	if pw.Dummy == "" {
		panic("auth: NewLogin needs a dummy password hash")
	}
	o = o.withDefaults()
	return &Login{users: users, sessions: sessions, revoker: revoker, issuer: issuer,
		mac: newMACKey("Login", macKey), verify: pw.Verify, dummy: pw.Dummy, met: met,
		end: newSessionEnder(sessions, revoker, o), start: sessionStarter{sessions, issuer, o},
		opt: o, log: o.Logger}
}

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
func (l *Login) Login(ctx context.Context, username, pw, previous string, opts ...LoginOption) (Tokens, error) {
	var dev device
	for _, o := range opts {
		o(&dev)
	}
	if pw == "" || len(pw) > MaxPasswordBytes {
		return Tokens{}, ErrInvalidRequest
	}
	name, nameErr := NormalizeUsername(username)
	if nameErr != nil {
		// No such account can exist; spend the same work as for one.
		l.verify(l.dummy, pw)
		return Tokens{}, ErrInvalidCredentials
	}
	now := l.opt.Now()
	a, err := l.countAttempt(ctx, name, now)
	if err != nil {
		return Tokens{}, err
	}
	if err := l.checkPassword(ctx, a, pw, now); err != nil {
		return Tokens{}, err
	}
	// The password was right: the attempt does not count against the name,
	// even if what follows fails (a KMS or DynamoDB outage is not a
	// failed login).
	if err := l.users.ClearLoginFailures(ctx, a.key, a.Count); err != nil {
		l.log.WarnContext(ctx, "clear login attempts", "user", a.who, "err", err)
	}
	if err := l.checkUserEntries(ctx, a, now); err != nil {
		return Tokens{}, err
	}
	if err := l.askSecondFactor(ctx, a.user, dev, now); err != nil {
		return Tokens{}, err // MFARequiredError: FinishMFA goes on (mfa_login.go)
	}
	if previous != "" {
		if err := l.end.presented(ctx, previous, "replaced by a new login", now); err != nil {
			return Tokens{}, err
		}
	}
	tokens, err := l.startSession(ctx, a.user, dev, now)
	if err != nil {
		return Tokens{}, err
	}
	l.log.InfoContext(ctx, "login", "sub", a.user.ID, "sid", tokens.SessionID)
	return tokens, nil
}

// attempt is one login attempt, counted: the user it names (nil: none),
// how they are named in logs, the throttle key and window, the count and
// the allowance.
type attempt struct {
	Attempt
	user   *User
	who    string
	key    string
	window time.Duration
	allow  int
}

// countAttempt reads the user and counts this attempt at the same time,
// and refuses it (a ThrottledError) while the name is locked or when the
// attempt is beyond the allowance (a burst, or a lock just set by another
// request).
func (l *Login) countAttempt(ctx context.Context, name string, now time.Time) (attempt, error) {
	// Attempts are counted under a keyed hash of the name, never the name:
	// a password typed into the username field must not sit in the table.
	// A count is kept a day after the last attempt, so waiting out a lock
	// does not reset it (only a successful login does).
	a := attempt{key: l.throttleKey(name), window: max(24*time.Hour, 2*l.opt.LoginLockoutMax)}
	var userErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.user, userErr = l.users.User(ctx, name)
	}()
	att, err := l.users.ReserveLoginAttempt(ctx, a.key, now, now.Add(a.window))
	<-done
	if err != nil {
		return a, unavailable("login: count attempt", err)
	}
	if userErr != nil {
		return a, unavailable("login: read user", userErr)
	}
	a.Attempt, a.who, a.allow = att, l.logName(name, a.user), att.Allow
	if a.allow == 0 {
		a.allow = l.opt.LoginMaxFailures
	}
	if att.LockedUntil.After(now) {
		l.log.WarnContext(ctx, "login refused: locked", "user", a.who, "attempts", att.Count)
		return a, &ThrottledError{RetryAfter: att.LockedUntil.Sub(now)}
	}
	if att.Count > a.allow {
		until, err := l.lock(ctx, a, now)
		if err != nil {
			return a, err
		}
		l.log.WarnContext(ctx, "login refused: too many attempts", "user", a.who, "attempts", att.Count)
		return a, &ThrottledError{RetryAfter: until.Sub(now)}
	}
	return a, nil
}

// lock locks the attempt's name for the lockout its count earns.
func (l *Login) lock(ctx context.Context, a attempt, now time.Time) (time.Time, error) {
	until := now.Add(l.lockout(a.Count))
	if err := l.users.LockLogin(ctx, a.key, a.Count, until, until.Add(a.window)); err != nil {
		return time.Time{}, unavailable("login: lock", err)
	}
	return until, nil
}

// checkPassword checks the password against the user's hash, or the dummy
// hash when there is no user: the same argon2id work either way. A failure
// that uses up the allowance locks the name.
func (l *Login) checkPassword(ctx context.Context, a attempt, pw string, now time.Time) error {
	user := a.user
	hash := l.dummy
	if user != nil {
		hash = user.PasswordHash
	}
	ok, verr := l.verify(hash, pw)
	if verr != nil {
		l.log.ErrorContext(ctx, "stored password hash unusable", "user", a.who, "err", verr)
		l.verify(l.dummy, pw)
	}
	if ok && user != nil && !user.Disabled && user.ID != "" {
		return nil
	}
	reason := "bad password"
	switch {
	case user == nil:
		reason = "unknown user"
	case user.ID == "":
		reason = "user record without user_id"
	case user.Disabled && ok:
		reason = "disabled user"
	}
	l.log.InfoContext(ctx, "login failed", "user", a.who, "reason", reason, "attempts", a.Count)
	if a.Count >= a.allow {
		if _, err := l.lock(ctx, a, now); err != nil {
			return err
		}
		// One lock per failed check that sets it; the burst path
		// (countAttempt) only extends a lock being set, and is not counted.
		l.met.LoginLockout()
	}
	return ErrInvalidCredentials
}

// checkUserEntries refuses a user whose entry covers a session starting
// now (an entry typed by hand without cutoff or with one in the future, or
// "every session until" a moment) as a disabled user is refused: no token
// is ever minted for a session a revocation covers, which is what lets the
// authorizers' replicas keep only the last token lifetime of the feed
// (shared/replica). The session's start is what its id carries
// (milliseconds, sessionStartOf), as the authorizer will read it. The global
// entry (RevokeAll) is read with it: after a cutoff in the past, a session
// starting now is after it and lives.
func (l *Login) checkUserEntries(ctx context.Context, a attempt, now time.Time) error {
	start := now.Truncate(time.Millisecond)
	entries, err := l.revoker.userEntries(ctx, a.user.ID)
	if err != nil {
		return unavailable("login: read the user's revocations", err)
	}
	for _, r := range entries {
		if !r.Covers(Target{UserID: a.user.ID, SessionStart: start}, now) {
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
			l.log.InfoContext(ctx, "login refused until the user's revocation cutoff", "user", a.who, "until", until)
			return &ThrottledError{RetryAfter: wait + time.Millisecond}
		}
		l.log.InfoContext(ctx, "login failed", "user", a.who, "reason", "every session of the user is revoked",
			"entry", string(r.Kind), "until", r.ExpiresAt)
		return ErrInvalidCredentials
	}
	return nil
}

// retryableRevocation is how far off a user entry's cutoff (or
// "every session until") may be for login to answer "retry then" (429)
// rather than "refused" (401): the revocation budget's window, with room.
const retryableRevocation = 2 * FeedBudgetWindow

// LoginOption tells Login about the device, besides the credentials.
type LoginOption func(*device)

// device is what a login option says: the User-Agent, and the thumbprint
// of the DPoP key the session is bound to ("" for none); signedIn, when
// set, is the sign-in a session continues (a password change's), else
// the session's start.
type device struct {
	userAgent, jkt string
	signedIn       time.Time
	// ends, when set, is when the session must end at the latest: a session
	// that goes on from another (a password change) keeps its end, so that
	// no chain of them outlives the sign-in it came from.
	ends time.Time
}

// WithDPoPKey binds the session the login starts to the DPoP key whose
// RFC 7638 thumbprint is jkt (RFC 9449 section 5): the caller checked the
// proof of possession.
func WithDPoPKey(jkt string) LoginOption {
	return func(d *device) { d.jkt = jkt }
}

// MaxUserAgentLen bounds the User-Agent stored with a session: the session
// list shows it, and a client chooses what it sends.
const MaxUserAgentLen = 256

// WithUserAgent records the device's User-Agent header with the session the
// login starts, as the session list shows it (ASVS 5.0 7.5.2): invalid
// UTF-8, control characters and format characters (bidi overrides,
// zero-width spaces: they could make one device's name read as another's,
// or as "this device") are dropped, and it is cut to MaxUserAgentLen bytes
// on a character boundary.
func WithUserAgent(ua string) LoginOption {
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
func (l *Login) logName(name string, user *User) string {
	if user != nil {
		return name
	}
	return "unknown:" + hex.EncodeToString(l.mac.sum("log-name", name)[:6])
}

// throttleKey is the login throttle table's key for a normalized username.
func (l *Login) throttleKey(name string) string {
	return hex.EncodeToString(l.mac.sum("login-throttle", name)[:16])
}

// lockout is how long a username waits after attempt n: LoginLockoutBase,
// doubling with each attempt past LoginMaxFailures, at most LoginLockoutMax.
func (l *Login) lockout(n int) time.Duration { return lockoutAfter(l.opt, n) }

// startSession signs the first access token and only then writes the
// session, so a KMS failure leaves nothing behind and a failed write hands
// out no token: there is never a session without a token nor a token
// without a session.
func (l *Login) startSession(ctx context.Context, user *User, dev device, now time.Time) (Tokens, error) {
	return l.start.start(ctx, user, []string{AMRPassword}, dev, now)
}
