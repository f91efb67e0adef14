package auth

// Passkeys (WebAuthn Level 3): the credential records and single-use
// ceremony challenges the passkey flows store, the rules that decide on
// them, and the session start of a passkey sign-in. The ceremonies
// themselves (options, attestation and assertion checks) are in
// shared/passkey, over github.com/go-webauthn/webauthn: this package does
// not import it, so the functions that never see a passkey (the authorizer
// first) do not link it.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// Passkey is a credential record (WebAuthn L3 §4, "credential record"):
// what a later assertion is checked against, and what the passkey list
// shows.
type Passkey struct {
	ID         []byte // the credential id (rawId), at most 1023 bytes (WebAuthn L3 §7.1 step 21)
	UserID     string // the tokens' sub
	Username   string // the user record's key, to read it at sign-in
	UserHandle []byte // the WebAuthn user handle of UserID (PasskeyUserHandle)
	PublicKey  []byte // COSE_Key (RFC 9052 §7)
	// SignCount is the authenticator's signature counter as last seen
	// (WebAuthn L3 §6.1.1); 0 for authenticators that keep none (most
	// synced passkeys).
	SignCount uint32
	// The authenticator data flags at registration, then as last seen:
	// user present, user verified, backup eligible, backup state
	// (WebAuthn L3 §6.1, §6.1.3).
	UserPresent, UserVerified, BackupEligible, BackupState bool
	Transports                                             []string
	AAGUID                                                 []byte
	AttestationFormat                                      string
	Attachment                                             string // "platform", "cross-platform" or "" (not told)
	CreatedAt                                              time.Time
	LastUsedAt                                             time.Time
	// CloneWarning: an assertion once came with a signature counter not
	// above the stored one (a possible clone, WebAuthn L3 §6.1.1); the
	// credential is refused from then on (PasskeyRefusal).
	CloneWarning bool
}

// MaxPasskeyIDBytes bounds a credential id (WebAuthn L3 §7.1 step 21:
// "at most 1023 bytes long").
const MaxPasskeyIDBytes = 1023

// PasskeyUse is what a verified assertion changes in its credential record.
type PasskeyUse struct {
	SignCount                                              uint32
	UserPresent, UserVerified, BackupEligible, BackupState bool
	At                                                     time.Time
}

// PasskeyCeremony names the ceremony a challenge was issued for: an answer
// to one is never accepted by the other.
type PasskeyCeremony string

// The two ceremonies.
const (
	CeremonyRegister PasskeyCeremony = "register"
	CeremonySignIn   PasskeyCeremony = "sign-in"
)

// PasskeyChallenge is one ceremony's server state between its begin and
// its finish: single-use (TakePasskeyChallenge deletes it) and short-lived
// (ExpiresAt; DynamoDB's TTL removes it later, the read refuses it at once).
type PasskeyChallenge struct {
	Key       string          // PasskeyChallengeKey of the challenge
	Ceremony  PasskeyCeremony // which ceremony may consume it
	UserID    string          // registration: the user it was issued to; sign-in: empty
	State     []byte          // the ceremony's state (shared/passkey), opaque here
	ExpiresAt time.Time
}

// PasskeyChallengeTTL is how long a challenge can be answered: the
// timeout the options give the browser (WebAuthn L3 §5.4 timeout, whose
// recommended range for user verification required is 300 s to 600 s).
// A page waiting in conditional mediation (autofill) begins again when
// it passes.
const PasskeyChallengeTTL = 5 * time.Minute

// PasskeyChallengeKey is the key a challenge is stored under: SHA-256 of
// its base64url form as clientDataJSON carries it, so that the finish step
// finds its state from the browser's answer alone, and the table holds no
// value that answers a ceremony.
func PasskeyChallengeKey(challenge string) string {
	h := sha256.Sum256([]byte(challenge))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// RecentSignIn is how recent the sign-in behind a session must be for
// registering or removing a passkey: a stolen access token or an
// unattended signed-in browser cannot add a way in (OWASP ASVS 5.0 6.4.x,
// re-authentication before changing authentication factors).
const RecentSignIn = 5 * time.Minute

// Passkey flow errors; shared/apigw maps each to one status and code.
var (
	// ErrPasskeyRefused: the browser's answer was refused (unknown or
	// used challenge, wrong origin or RP ID, no user verification, a bad
	// signature, an unknown or flagged credential). One answer for all:
	// the logs say which.
	ErrPasskeyRefused = errors.New("passkey answer refused")
	// ErrPasskeyNotFound: the caller has no passkey with that id.
	ErrPasskeyNotFound = errors.New("no such passkey")
	// ErrPasskeyExists: a credential with that id is already registered.
	ErrPasskeyExists = errors.New("passkey already registered")
	// ErrChallengeNotFound: no live challenge under that key for that
	// ceremony and user (never issued, already used, expired).
	ErrChallengeNotFound = errors.New("no such passkey challenge")
)

// StaleSignInError: the session's sign-in is older than MaxAge; sign in
// again (RFC 9470 §3: insufficient_user_authentication with max_age).
//
// It is not a StepUpError, though both are answered 401
// insufficient_user_authentication: they are decided on other facts and
// answered differently. A StaleSignInError is decided on the session as
// stored (SignInAge: its auth_time, or its start for a session older than
// auth_time), which a passkey registration reads anyway; a StepUpError on
// the access token's signed claims alone (amr, auth_time), where an
// unknown auth_time is refused. shared/apigw answers this one with "sign
// in again" and a bare max_age=N in WWW-Authenticate, counted as invalid;
// a StepUpError with its Reason, acr_values and a quoted max_age, counted
// as forbidden (shared/app's passkey and TOTP tests hold each answer).
type StaleSignInError struct {
	MaxAge time.Duration
}

func (e *StaleSignInError) Error() string {
	return fmt.Sprintf("this needs a sign-in within the last %s", e.MaxAge)
}

// PasskeyStore stores credential records and ceremony challenges
// (shared/dynamo): credential records by credential id, a user's found by
// one Query, never a Scan.
type PasskeyStore interface {
	// PasskeyUserHandle returns the user's WebAuthn user handle, storing
	// fresh as it when the user has none yet (one conditional write, so
	// two first registrations agree on one handle).
	PasskeyUserHandle(ctx context.Context, userID string, fresh []byte) ([]byte, error)
	// CreatePasskey stores a new credential record; ErrPasskeyExists if
	// one with its id exists.
	CreatePasskey(ctx context.Context, p *Passkey) error
	// Passkey reads a credential record, strongly consistent; nil if none.
	Passkey(ctx context.Context, id []byte) (*Passkey, error)
	// UserPasskeys lists a user's credential records, newest first.
	UserPasskeys(ctx context.Context, userID string) ([]Passkey, error)
	// RecordPasskeyUse stores a verified assertion's counter and flags if
	// the stored counter is still prev and the record is not flagged
	// (ErrPasskeyRefused otherwise: another assertion won).
	RecordPasskeyUse(ctx context.Context, id []byte, prev uint32, u PasskeyUse) error
	// FlagPasskeyClone marks the record as possibly cloned.
	FlagPasskeyClone(ctx context.Context, id []byte, presented uint32, at time.Time) error
	// DeletePasskey deletes one of the user's credential records;
	// ErrPasskeyNotFound when the user has none with that id (another
	// user's is not told apart).
	DeletePasskey(ctx context.Context, userID string, id []byte) error
	// PutPasskeyChallenge stores a new challenge.
	PutPasskeyChallenge(ctx context.Context, c PasskeyChallenge) error
	// TakePasskeyChallenge deletes and returns the challenge under key if
	// it is for that ceremony and user and not expired at now, in one
	// conditional delete: of two answers to one challenge exactly one gets
	// it, the other ErrChallengeNotFound.
	TakePasskeyChallenge(ctx context.Context, key string, c PasskeyCeremony, userID string, now time.Time) (*PasskeyChallenge, error)
}

// PasskeyRefusal is why a stored credential is refused before its
// assertion is even checked: "" if it is not.
func PasskeyRefusal(p *Passkey, userHandle []byte) string {
	switch {
	case p == nil:
		return "unknown credential"
	case p.CloneWarning:
		return "credential flagged as possibly cloned"
	case string(p.UserHandle) != string(userHandle):
		// WebAuthn L3 §7.2 step 6: the user handle must be the owner's.
		return "user handle is not the credential's owner"
	}
	return ""
}

// SignCountRegressed applies WebAuthn L3 §7.2 step 22 (§6.1.1): when the
// presented or the stored signature counter is nonzero, the presented one
// must be greater; otherwise the authenticator may be cloned. This service
// refuses such an assertion and flags the credential (every later use
// refused too): a counter only goes back when two copies of one key are in
// use, and the user keeps their password and other passkeys to sign in
// with, remove the flagged one and register again. Most synced passkeys
// keep the counter at 0 and never trip it.
func SignCountRegressed(stored, presented uint32) bool {
	return (stored != 0 || presented != 0) && presented <= stored
}

// PasskeyAMR is the access token's amr (RFC 8176 §2) for a passkey
// sign-in. A passkey is proof of possession of a key plus the
// authenticator's user verification (required here), a PIN or a
// biometric: two factors, so "mfa" with the methods. Which key:
// "swk" (software-secured) when the credential is backup eligible, as a
// synced passkey is exported to a cloud keychain and lives outside any one
// device's hardware; "hwk" when it is not (a device-bound key, which
// authenticators keep in a secure element or TPM; with attestation "none"
// this rests on the authenticator's own flags, not on a verified
// attestation). "user" says the user was verified at the authenticator
// (RFC 8176 names no method for "PIN or biometric, not told").
func PasskeyAMR(backupEligible bool) []string {
	key := AMRHardware
	if backupEligible {
		key = AMRSoftware
	}
	return []string{key, AMRUser, AMRMFA}
}

// SessionStart starts sessions for users another flow has authenticated
// (a passkey sign-in), with the login's rules: the user's revocation
// entries are checked, the session the browser still holds ends first,
// and the access token is signed before the session is written.
type SessionStart struct {
	l *Login
}

// NewSessionStart builds the session start of the passkey sign-in: it
// reads users' revocation entries and ends the session a sign-in replaces
// through revoker, signs the first access token with issuer and writes
// the session.
func NewSessionStart(sessions Sessions, revoker *Revoker, issuer *AccessIssuer, o Options) *SessionStart {
	required("SessionStart", sessions, revoker, issuer)
	userRevoker("SessionStart", revoker)
	o = o.withDefaults()
	return &SessionStart{l: &Login{sessions: sessions, revoker: revoker, issuer: issuer,
		end: newSessionEnder(sessions, revoker, o), start: sessionStarter{sessions, issuer, o}, opt: o, log: o.Logger}}
}

// Start starts a session for user, authenticated at now by amr (RFC 8176
// values). previous is the refresh token the browser still holds, if any:
// its session ends first, as at a password login.
func (s *SessionStart) Start(ctx context.Context, user *User, amr []string, previous string, opts ...LoginOption) (Tokens, error) {
	var dev device
	for _, o := range opts {
		o(&dev)
	}
	if user == nil || user.Disabled || user.ID == "" {
		return Tokens{}, ErrPasskeyRefused
	}
	now := s.l.opt.Now()
	if err := s.l.checkUserEntries(ctx, attempt{user: user, who: user.Username}, now); err != nil {
		if errors.Is(err, ErrInvalidCredentials) {
			return Tokens{}, ErrPasskeyRefused
		}
		return Tokens{}, err
	}
	if previous != "" {
		if err := s.l.end.presented(ctx, previous, "replaced by a new login", now); err != nil {
			return Tokens{}, err
		}
	}
	tokens, err := s.l.start.start(ctx, user, amr, dev, now)
	if err != nil {
		return Tokens{}, err
	}
	s.l.log.InfoContext(ctx, "login", "sub", user.ID, "sid", tokens.SessionID, "amr", amr)
	return tokens, nil
}

// SignInAge is how long ago the sign-in behind sess was (its auth_time;
// a refresh is not a new sign-in). A session from before auth_time was
// kept started at its sign-in.
func SignInAge(sess *Session, now time.Time) time.Duration {
	at := sess.AuthTime
	if at.IsZero() {
		at = sess.CreatedAt
	}
	return now.Sub(at)
}
