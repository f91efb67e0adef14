// Package auth is the service: login, refresh with rotation and reuse
// detection, logout, logout of every device, revocation and the
// authorization of access tokens. It holds the domain types and the small
// interfaces it needs from storage and signing; shared/dynamo and
// shared/kmssign implement them, shared/apigw adapts them to API Gateway.
package auth

import (
	"context"
	"time"
)

// User is an account. Username is normalized (password.NormalizeUsername).
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
}

// RevocationKind says what a revocation entry covers.
type RevocationKind string

// The three kinds of revocation entry, also the prefixes of their keys.
const (
	RevokeToken   RevocationKind = "jti" // one access token
	RevokeSession RevocationKind = "sid" // every token of one session
	RevokeUser    RevocationKind = "sub" // every session of a user started before RevokedAt
)

// Revocation is one entry of the revocation table.
type Revocation struct {
	Kind      RevocationKind
	Value     string    // the jti, session id or user id
	RevokedAt time.Time // for RevokeUser: sessions started at or before it are dead
	ExpiresAt time.Time // the TTL: after it nothing the entry covers can still be valid
	Reason    string
}

// Live reports whether the entry is still in force at now. DynamoDB deletes
// expired items lazily (typically within two days), so readers must ignore
// them themselves. An entry without an expiry (added by hand) stays in force.
func (r Revocation) Live(now time.Time) bool {
	return r.ExpiresAt.IsZero() || now.Before(r.ExpiresAt)
}

// Standing is what, besides the session record, can end a session: the
// current user record and the revocation entries of the session and user.
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

// Revocations stores revocation entries.
type Revocations interface {
	// PutRevocation writes an entry. A user entry never replaces a newer one.
	PutRevocation(ctx context.Context, r Revocation) error
	// Revocations reads the entries for a token's jti, sid and sub in one
	// strongly consistent round trip, expired ones included.
	Revocations(ctx context.Context, jti, sid, sub string) ([]Revocation, error)
}
