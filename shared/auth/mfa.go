package auth

// The second factor's domain: a user's TOTP factor (RFC 6238) with its
// recovery codes, the short-lived challenge a password login of an
// enrolled user gets instead of tokens, and what the flows need from
// storage (Factors) and from KMS (SecretBox). totp.go enrols and removes
// the factor, mfa_login.go finishes a login with it, stepup.go says when
// a sign-in is too weak or too old for a route.

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Second-factor settings.
const (
	// MFAChallengeTTL is how long the challenge of a password login of an
	// enrolled user can be answered: long enough to open an authenticator
	// app, short enough that a stolen challenge is worth little.
	MFAChallengeTTL = 5 * time.Minute
	// RecentAuthMaxAge is how recent a sign-in must be (auth_time) to
	// remove the second factor.
	RecentAuthMaxAge = 5 * time.Minute
	// RecoveryCodeCount is how many recovery codes a confirmed enrolment
	// hands out, once.
	RecoveryCodeCount = 10
	// DefaultTOTPMaxFailures is Options.TOTPMaxFailures when unset: wrong
	// answers in a row before TOTP codes are refused. With one
	// step either side a guess wins 3 times in a million, so an attacker
	// with the password wins about 6e-5 of the time a day instead of the
	// 3e-4 of one guess per 15-minute lockout; NIST SP 800-63B 5.2.2 caps
	// consecutive failures at 100, ASVS 5.0 6.3.1 asks for a limit.
	DefaultTOTPMaxFailures = 20
)

// TOTPFactor is a user's TOTP second factor (RFC 6238).
type TOTPFactor struct {
	UserID string
	// Sealed is the shared secret encrypted by a SecretBox under the user
	// id: the plain secret is never stored, nor logged.
	Sealed []byte
	// Active: a first valid code confirmed the enrolment; until then the
	// factor is pending and asks nothing at login.
	Active bool
	// LastStep is the last time step (RFC 6238 4.2, T) a code was accepted
	// for: a code of this step or an earlier one is refused (RFC 6238
	// 5.2: an OTP is accepted once).
	LastStep int64
	// Recovery are the hashes of the unused recovery codes
	// (recoveryHash).
	Recovery  []string
	CreatedAt time.Time
}

// MFAChallenge is the pending second step of a password login: what the
// password step found, kept under the hash of a random token the client
// holds (MFARequiredError.Token), single-use, until ExpiresAt.
type MFAChallenge struct {
	ID        string // hex SHA-256 of the token
	UserID    string
	Username  string
	UserAgent string
	// JKT is the RFC 7638 thumbprint of the DPoP key of the password
	// step's proof, "" without one: the second step must come with a
	// proof of the same key, or with none when this is "" (RFC 9449 5:
	// the session the two steps start is bound to one key or to none).
	JKT string
	// IssuedAt is when the password step issued it (milliseconds): a
	// revocation cutoff of the user at or after it kills it.
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Factors stores second factors and login challenges (the MFA table):
// single-item conditional writes, so that a code, a recovery code or a
// challenge is used at most once whatever the concurrency.
type Factors interface {
	// TOTPFactor reads a user's factor, strongly consistent; nil if none.
	TOTPFactor(ctx context.Context, userID string) (*TOTPFactor, error)
	// PutPendingTOTP writes f as the user's pending factor, replacing a
	// pending one; ErrFactorExists if an active one stands.
	PutPendingTOTP(ctx context.Context, f *TOTPFactor) error
	// ActivateTOTP makes the pending factor sealed as sealed active, with
	// step as its last used step and recovery as its recovery code hashes;
	// ErrCodeUsed if it is not that pending factor any more.
	ActivateTOTP(ctx context.Context, userID string, sealed []byte, step int64, recovery []string) error
	// UseTOTPStep records step as used on the active factor, on condition
	// that it is later than the last one used; ErrCodeUsed otherwise.
	UseTOTPStep(ctx context.Context, userID string, step int64) error
	// UseRecoveryCode removes one recovery code hash from the active
	// factor, on condition that it is there; ErrCodeUsed otherwise.
	UseRecoveryCode(ctx context.Context, userID, hash string) error
	// DeleteTOTP removes the user's factor on condition that it is still
	// the one seen was read as: a pending one still pending (it may have
	// been confirmed since, and an active one is removed only with a
	// code), an active one still active with the same sealed secret;
	// ErrFactorChanged otherwise, and when there is none.
	DeleteTOTP(ctx context.Context, seen *TOTPFactor) error
	// PutMFAChallenge writes a new challenge.
	PutMFAChallenge(ctx context.Context, c MFAChallenge) error
	// MFAChallenge reads a challenge, strongly consistent; nil if none.
	MFAChallenge(ctx context.Context, id string) (*MFAChallenge, error)
	// ConsumeMFAChallenge deletes the challenge on condition that it
	// exists and has not expired at now: of two answers to one challenge
	// one wins; ErrChallengeUsed for the other, and for an expired one.
	ConsumeMFAChallenge(ctx context.Context, id string, now time.Time) error
}

// SecretBox encrypts TOTP secrets (KMS Encrypt and Decrypt with a
// symmetric key, the user id as encryption context: a sealed secret
// copied to another user's item does not open).
type SecretBox interface {
	Seal(ctx context.Context, userID string, secret []byte) ([]byte, error)
	Open(ctx context.Context, userID string, sealed []byte) ([]byte, error)
}

// Errors of the second factor.
var (
	// ErrInvalidMFA: the code is wrong or already used, or the challenge
	// is unknown, expired or used. One error for all, so an answer tells
	// nothing about which.
	ErrInvalidMFA = errors.New("invalid second-factor code or challenge")
	// ErrCodesLocked: TOTPMaxFailures wrong answers in a row; TOTP codes
	// are refused unchecked, a recovery code is still taken.
	ErrCodesLocked = errors.New("too many wrong codes: TOTP codes are refused; use a recovery code")
	// ErrFactorExists: an active factor stands; remove it first.
	ErrFactorExists = errors.New("a second factor is already active")
	// ErrFactorChanged: the factor was confirmed, removed or replaced
	// between its read and its removal; nothing was removed.
	ErrFactorChanged = errors.New("the second factor changed meanwhile")
	// ErrNoFactor: the user has no factor (or none active) to confirm or
	// remove.
	ErrNoFactor = errors.New("no second factor to confirm or remove")
	// ErrCodeUsed comes from Factors when a conditional write finds the
	// code, step or challenge already used.
	ErrCodeUsed = errors.New("code already used")
	// ErrChallengeUsed comes from Factors.ConsumeMFAChallenge for a
	// challenge used, expired or unknown.
	ErrChallengeUsed = errors.New("challenge used or expired")
)

// MFARequiredError is the answer of a password login of a user with an
// active second factor: no tokens, a challenge to finish with
// Login.FinishMFA within ExpiresIn (Auth0's mfa_required / mfa_token).
type MFARequiredError struct {
	Token     string
	ExpiresIn time.Duration
}

func (e *MFARequiredError) Error() string {
	return fmt.Sprintf("second factor required (challenge valid %s)", e.ExpiresIn)
}

// Caller is the signed-in user of a protected route, as the authorizer
// passed it on: who, which session, and how and when they signed in.
type Caller struct {
	UserID    string
	SessionID string
	AMR       []string
	AuthTime  time.Time // zero: unknown (a token issued before auth_time existed)
}
