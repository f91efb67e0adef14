// Package auth is the service, one type per flow (in the manner of ory
// fosite's flow handlers): Login, Refresh, Logout, LogoutAll, Revoke (the
// operator's console, the global cutoff included), TokenRevocation (RFC
// 7009), Authorizer, TokenIntrospection (RFC 7662), SessionList and
// EndSession. Each constructor takes exactly the dependencies its flow
// uses, as required arguments. What the flows share about a session (the
// token format, the dead-session rule, the grace window, issuing an access
// token, ending a session) is lifecycle.go; writing revocation entries
// under the users' budget is revoker.go; this file holds the domain types
// and the small interfaces the flows need from storage and signing
// (shared/dynamo and shared/kmssign implement them, shared/apigw adapts
// the flows to API Gateway).
package auth

import (
	"context"
	"log/slog"
	"time"

	"github.com/authkit/lambda-auth/shared/token"
)

// Options are the flows' settings (see shared/config); each flow reads
// the ones it needs.
type Options struct {
	Issuer   string
	Audience string
	ClientID string

	AccessTokenTTL     time.Duration
	RefreshTokenTTL    time.Duration
	RefreshIdleTimeout time.Duration
	RefreshReuseGrace  time.Duration

	LoginMaxFailures int
	LoginLockoutBase time.Duration
	LoginLockoutMax  time.Duration
	// TOTPMaxFailures is how many wrong second-factor answers in a row
	// (no right one between them, no 24-hour pause) a user's TOTP codes
	// take: past it a code is refused unchecked (ErrCodesLocked) until a
	// recovery code signs in, an operator clears the count, or a day
	// passes without an attempt. 0: DefaultTOTPMaxFailures.
	TOTPMaxFailures int

	// DPoPMode is what login and refresh do with DPoP proofs (RFC 9449;
	// dpop.go).
	DPoPMode DPoPMode

	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: slog.Default()
}

// withDefaults fills Now and Logger.
func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Bounds of the lifetimes the configuration accepts (shared/config checks
// them). Revocation entries are kept for these maximums (NewRevocation)
// rather than for the current settings, so lowering a lifetime later cannot let an entry expire
// while a token or session issued under the old setting is still valid.
const (
	MaxAccessTokenTTL  = 24 * time.Hour
	MaxRefreshTokenTTL = 366 * 24 * time.Hour
	MaxClockLeeway     = 5 * time.Minute
)

// Tokens is what login and refresh hand out.
type Tokens struct {
	AccessToken      string
	ExpiresIn        time.Duration
	RefreshToken     string // empty when no new refresh token was issued
	RefreshExpiresAt time.Time
	SessionID        string
	UserID           string
	Scope            string // the access token's scope claim
	// JKT is the access token's cnf.jkt (RFC 9449 6.1), the key its
	// session is bound to: token_type DPoP. "" for a bearer token.
	JKT string
}

// User is an account. Username is normalized (NormalizeUsername).
type User struct {
	Username     string
	ID           string
	PasswordHash string
	Disabled     bool
	Scopes       []string
	CreatedAt    time.Time
}

// Attempt is the login throttle state of one username (existing or not)
// after counting one more attempt.
type Attempt struct {
	Count       int       // attempts since the last successful login, this one included
	Allow       int       // attempts allowed before the next lock; 0: LoginMaxFailures
	LockedUntil time.Time // in the future: locked, and this attempt was not counted
}

// Session is one login on one device: the chain of refresh tokens it has
// issued, stored only as SHA-256 hashes.
type Session struct {
	ID         string
	UserID     string
	Username   string
	ClientID   string
	Scope      string
	TokenHash  []byte   // hash of the current refresh token
	PrevHash   []byte   // hash of the token it replaced, for the grace window
	Retired    [][]byte // prefixes of every older hash, for reuse detection
	CreatedAt  time.Time
	RotatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time // absolute; rotation never moves it
	RevokedAt  time.Time // zero while the session is live
	Reason     string
	UserAgent  string // the device as its login described it (WithUserAgent), for the session list
	// AMR and AuthTime say how and when the user signed in (RFC 8176
	// methods; every access token of the session carries them as amr and
	// auth_time: a refresh is not a new sign-in). AuthTime is CreatedAt
	// for sessions started before it was kept.
	AMR      []string
	AuthTime time.Time
	// JKT is the RFC 7638 thumbprint of the DPoP key the session is bound
	// to (RFC 9449 section 5: its refresh tokens need a proof of that key,
	// its access tokens carry it as cnf.jkt); "" for a bearer session.
	JKT string
}

// Sign-in methods (RFC 8176 section 2), the amr values the flows write.
const (
	AMRPassword = "pwd"  // a password
	AMROTP      = "otp"  // a one-time password (TOTP, RFC 6238)
	AMRMFA      = "mfa"  // more than one factor
	AMRHardware = "hwk"  // proof of possession of a hardware-protected key
	AMRSoftware = "swk"  // proof of possession of a software-protected key
	AMRUser     = "user" // user presence and verification (a passkey's UV)
)

// RevocationKind says what a revocation entry covers.
type RevocationKind string

// The four kinds of revocation entry, also the prefixes of their keys.
const (
	RevokeToken   RevocationKind = "jti" // one access token
	RevokeSession RevocationKind = "sid" // every token of one session
	RevokeUser    RevocationKind = "sub" // every session of a user started before RevokedAt
	// RevokeAll is the global cutoff ("sign everyone out", Keycloak's
	// realm-wide not-before): every session of every user started at or
	// before RevokedAt, with every token those sessions issued. Its one
	// entry has the fixed value AllValue (key "all#*").
	//
	// A kind of its own rather than a sub# entry under a reserved user id:
	// user ids are opaque (they come from create-user or another tool), so
	// no id is safely reserved, and a reader that forgot the global entry
	// would read it as one user's. A fixed value rather than none: the
	// entry is one item, fetched by key with a token's own keys (strict
	// mode: one more key in the same BatchGetItem; a replica: one more map
	// lookup), and merged like any other (Merge: later cutoff and expiry
	// win), so repeated cutoffs never grow the table. It lives as long as a
	// user entry: past the longest session it can end.
	RevokeAll RevocationKind = "all"
)

// AllValue is the value of the one RevokeAll entry: its key is "all#*".
// An "all#" entry with another value covers nothing.
const AllValue = "*"

// Revocation is one entry of the revocation table.
type Revocation struct {
	Kind  RevocationKind
	Value string // the jti, session id or user id
	// RevokedAt is when the entry was written. For RevokeUser and
	// RevokeAll it is the cutoff: sessions (of the user; of everyone)
	// started at or before it are dead; zero (an entry typed by hand
	// without it) means every session, whenever it started: for RevokeAll,
	// nobody can log in until it expires.
	RevokedAt time.Time
	// AllUntil (RevokeUser and RevokeAll only) is a moment until which
	// every session it covers is dead, whenever it started: what an entry
	// without cutoff leaves behind when a later revocation gives it a
	// cutoff (Merge).
	AllUntil  time.Time
	ExpiresAt time.Time // the TTL: after it nothing the entry covers can still be valid; zero: never
	Reason    string
}

// NewRevocation is an entry of kind for value, written at now, with the
// lifetime its kind needs: a token entry until the longest access token
// lifetime the configuration accepts has passed, a session, user or global
// entry until the longest session lifetime has (see MaxRefreshTokenTTL).
func NewRevocation(kind RevocationKind, value string, now time.Time, reason string) Revocation {
	life := MaxRefreshTokenTTL + MaxAccessTokenTTL + MaxClockLeeway
	if kind == RevokeToken {
		life = MaxAccessTokenTTL + MaxClockLeeway
	}
	return Revocation{Kind: kind, Value: value, RevokedAt: now, ExpiresAt: now.Add(life), Reason: reason}
}

// Live reports whether the entry is still in force at now. DynamoDB deletes
// expired items lazily (typically within two days), so readers must ignore
// them themselves. An entry without an expiry (added by hand) stays in force.
func (r Revocation) Live(now time.Time) bool {
	return r.ExpiresAt.IsZero() || now.Before(r.ExpiresAt)
}

// Target is what a revocation entry can cover: an access token (all four
// fields, from its signed jti, sid and sub claims) or a session (no TokenID).
type Target struct {
	TokenID      string
	SessionID    string
	UserID       string
	SessionStart time.Time // from the session id, which carries it
}

// Covers reports whether r, in force at now, ends t. This is the one rule
// deciding it, for the authorizer (access tokens) and refresh (sessions):
// a token entry ends that token; a session entry ends the session and every
// token it issued; a user entry ends every session of the user started at
// or before its cutoff (and, until AllUntil, every session), with every
// token those sessions issued, before or after the entry was written; the
// global entry (RevokeAll) does the same for every user.
func (r Revocation) Covers(t Target, now time.Time) bool {
	if !r.Live(now) || r.Value == "" {
		return false
	}
	switch r.Kind {
	case RevokeToken:
		return r.Value == t.TokenID
	case RevokeSession:
		return r.Value == t.SessionID
	case RevokeUser:
		return r.Value == t.UserID && r.cutsOff(t.SessionStart, now)
	case RevokeAll:
		return r.Value == AllValue && r.cutsOff(t.SessionStart, now)
	}
	return false
}

// cutsOff is the rule of a cutoff entry (user or global): a session
// started at or before the cutoff is dead, and every session while there
// is no cutoff or until AllUntil.
func (r Revocation) cutsOff(start, now time.Time) bool {
	return r.RevokedAt.IsZero() || !start.After(r.RevokedAt) || now.Before(r.AllUntil)
}

// HasCutoff reports whether entries of kind k end sessions by their start
// (RevokedAt is a cutoff): user and global entries.
func (k RevocationKind) HasCutoff() bool { return k == RevokeUser || k == RevokeAll }

// Merge combines two entries for the same key into one that covers
// everything either covers, for at least as long: revocations only ever
// grow. The later expiry wins (none: never), and for a user or the global
// entry the later cutoff; an entry without cutoff (every session until it
// expires) merged with one that has a cutoff keeps "every session" until
// its own expiry as AllUntil. The reason is that of the entry that moved the cutoff, else the
// first one's (a repeated logout keeps its original reason).
func Merge(old, r Revocation) Revocation {
	m := old
	m.ExpiresAt = laterOrNever(old.ExpiresAt, r.ExpiresAt)
	oc, rc := old.RevokedAt, r.RevokedAt
	switch {
	case !old.Kind.HasCutoff():
		m.RevokedAt = later(oc, rc)
	case oc.IsZero() && (old.ExpiresAt.IsZero() || rc.IsZero()):
		// Every session already; r adds at most a later expiry (above).
	case oc.IsZero():
		m.RevokedAt, m.AllUntil, m.Reason = rc, later(old.ExpiresAt, r.AllUntil), r.Reason
	case rc.IsZero() && r.ExpiresAt.IsZero():
		m.RevokedAt, m.AllUntil, m.Reason = time.Time{}, time.Time{}, r.Reason
	case rc.IsZero():
		m.AllUntil, m.Reason = later(old.AllUntil, r.ExpiresAt), r.Reason
	default:
		m.RevokedAt, m.AllUntil = later(oc, rc), later(old.AllUntil, r.AllUntil)
		if rc.After(oc) {
			m.Reason = r.Reason
		}
	}
	if m.Reason == "" {
		m.Reason = r.Reason
	}
	return m
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// laterOrNever is the later of two expiries, where zero means never.
func laterOrNever(a, b time.Time) time.Time {
	if a.IsZero() || b.IsZero() {
		return time.Time{}
	}
	return later(a, b)
}

// Standing is what, besides the session record, can end a session: the
// current user record and the revocation entries of the session and user,
// and the global one (RevokeAll).
type Standing struct {
	User        *User // nil if the user no longer exists
	Revocations []Revocation
}

// Rotation replaces a session's current refresh token with the next one, on
// condition that the current one is still Presented and the session is live.
type Rotation struct {
	SessionID string
	Presented []byte
	Next      []byte
	Scope     string
	At        time.Time
}

// Users stores accounts and the login throttle.
type Users interface {
	// User reads a user, strongly consistent; nil if none.
	User(ctx context.Context, username string) (*User, error)
	// ReserveLoginAttempt counts one attempt atomically, before any password
	// work, unless the username is locked (then it returns the lock and
	// counts nothing). A record idle past its expiry starts over.
	ReserveLoginAttempt(ctx context.Context, username string, now, expires time.Time) (Attempt, error)
	// LockLogin locks the username until until, computed from attempt
	// number count, and allows attempt count+1 after that. It applies only
	// to the record that counted that attempt (not to one a successful
	// login cleared meanwhile), and never lowers the allowance.
	LockLogin(ctx context.Context, username string, count int, until, expires time.Time) error
	// ClearLoginFailures forgets the attempts after a successful login,
	// unless attempts beyond count arrived meanwhile (those stay counted).
	ClearLoginFailures(ctx context.Context, username string, count int) error
}

// Sessions stores refresh sessions.
type Sessions interface {
	// CreateSession writes a new session; it must not exist yet.
	CreateSession(ctx context.Context, s *Session) error
	// Session reads a session with a strongly consistent read; nil if none.
	Session(ctx context.Context, id string) (*Session, error)
	// SessionStanding reads the user record and the revocation entries for
	// the session and its user in one round trip.
	SessionStanding(ctx context.Context, s *Session) (Standing, error)
	// RotateSession performs r atomically. If the condition fails it returns
	// ErrRotationConflict and the session as it now is.
	RotateSession(ctx context.Context, r Rotation) (*Session, error)
	// EndSession marks a session revoked; ending an ended or missing
	// session is not an error.
	EndSession(ctx context.Context, id, reason string, at time.Time) error
}

// SessionDirectory finds a user's sessions, for the session list (ASVS 5.0
// 7.5.2): one Query of the sessions table's live-by-user index, never a Scan.
type SessionDirectory interface {
	// UserSessions returns the user's sessions not marked ended and not
	// past their absolute end at now, newest first, with the revocation
	// entries that could end them (the user's, each session's and the
	// global one). The index is eventually consistent: a session started
	// or ended a moment ago may be missing or still listed.
	UserSessions(ctx context.Context, userID string, now time.Time) (UserSessions, error)
}

// UserSessions is what SessionDirectory finds for one user.
type UserSessions struct {
	Sessions    []Session
	Revocations []Revocation // entries for the user, for each listed session, and the global one
	Truncated   bool         // more sessions than one Query page holds
}

// Revocations stores revocation entries.
type Revocations interface {
	// PutRevocation merges r into the entry stored for its key (Merge):
	// whatever stands in the table, afterwards the entry covers at least
	// what r covers, for at least as long, and the revocation feed holds
	// it for replicas. It returns an error when it could not make sure of
	// that; it never drops r silently, and a retry completes it.
	PutRevocation(ctx context.Context, r Revocation) error
	// UserRevocations reads the entries that can refuse a user a new
	// session: the user's (sub#) and the global one (all#*), strongly
	// consistent, in one round trip; those that exist.
	UserRevocations(ctx context.Context, userID string) ([]Revocation, error)
}

// RevocationLookup finds the entries that could cover one access token:
// the table itself (strict mode, one strongly consistent read per token)
// or a replica of the revocation feed (shared/replica).
type RevocationLookup interface {
	// Revocations returns the entries for a token's jti, sid and sub, and
	// the global entry (RevokeAll), expired ones included; an error when it
	// cannot answer with a view fresh enough.
	Revocations(ctx context.Context, jti, sid, sub string) ([]Revocation, error)
	// Window is how far back the lookup sees: an entry written longer ago
	// than that may be missing (a replica keeps the feed's last Window),
	// so a verifier in front of it must refuse tokens that live longer
	// than Window minus twice its clock leeway (shared/guard checks it at
	// start). A lookup of the table itself, which keeps every entry until
	// it expires, answers NoWindowLimit; 0 or less is a misconfigured
	// lookup, which guard refuses.
	Window() time.Duration
}

// NoWindowLimit is the Window of a lookup that sees every entry until it
// expires (the Revocations table read per request). It is not 0, so a
// replica built without a Window (0) is refused, never taken for "no limit".
const NoWindowLimit = time.Duration(1<<63 - 1)

// Metrics counts what the service decides that no answer shows
// (shared/metrics writes it as CloudWatch EMF lines): a username locked,
// a revocation entry written. It never receives an identifier.
type Metrics interface {
	LoginLockout()
	Revoked(kind RevocationKind)
	// Escalated counts revocations written as a user entry because the
	// user's revocation budget was spent (FeedBudgetPerUser).
	Escalated()
}

// NoMetrics counts nothing: for tools and tests that have no metrics.
type NoMetrics struct{}

// LoginLockout counts nothing.
func (NoMetrics) LoginLockout() {}

// Revoked counts nothing.
func (NoMetrics) Revoked(RevocationKind) {}

// Escalated counts nothing.
func (NoMetrics) Escalated() {}

// PasswordCheck checks a password against a stored hash: password.Verify.
type PasswordCheck func(hash, pw string) (bool, error)

// Passwords is how Login checks passwords, given by the caller so that this
// package (and shared/guard, which imports it) carries no hashing code.
type Passwords struct {
	Verify PasswordCheck // password.Verify
	// Dummy is a hash at the cost of stored ones (password.Dummy()), checked
	// when there is no user, so an unknown user costs the same work.
	Dummy string
}

// TokenVerifier checks an access token's signature and claims:
// token.Verifier, or a token.Cache in front of one.
type TokenVerifier interface {
	Verify(raw string) (*token.Claims, error)
}
