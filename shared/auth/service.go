package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"log/slog"
	"time"

	"github.com/authkit/lambda-auth/shared/password"
	"github.com/authkit/lambda-auth/shared/token"
)

// Options are the service's settings (see shared/config).
type Options struct {
	Issuer   string
	Audience string
	ClientID string

	AccessTokenTTL     time.Duration
	RefreshTokenTTL    time.Duration
	RefreshIdleTimeout time.Duration
	RefreshReuseGrace  time.Duration
	ClockLeeway        time.Duration
	StoreTimeout       time.Duration // authorizer's budget for the revocation lookup

	LoginMaxFailures int
	LoginLockoutBase time.Duration
	LoginLockoutMax  time.Duration

	Now func() time.Time // nil: time.Now
}

// Deps are what the service talks to. A function only sets those it uses:
// the authorizer needs Verifier and Lookup, login needs Signer, Users,
// Sessions and Revocations, and so on.
type Deps struct {
	Signer      token.Signer
	Verifier    TokenVerifier
	Users       Users
	Sessions    Sessions
	Revocations Revocations
	Lookup      RevocationLookup
	Directory   SessionDirectory
	// Budget counts the revocations each user causes (FeedBudgetPerUser);
	// nil: none counted (the operator's revoke function).
	Budget  FeedBudget
	Logger  *slog.Logger
	Metrics Metrics // nil: none
	// VerifyPassword checks a password against a stored hash; nil means
	// password.Verify.
	VerifyPassword func(hash, pw string) (bool, error)
	// MACKey keys the service's keyed hashes: refresh token successors and
	// login throttle keys. Login and refresh need it (32 bytes, from
	// kmssign.DeriveKey: it exists only in KMS and in the functions' memory).
	MACKey []byte
}

// Service is the authentication service.
type Service struct {
	opt Options
	Deps
}

// New returns a Service.
func New(d Deps, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Metrics == nil {
		d.Metrics = noMetrics{}
	}
	if d.VerifyPassword == nil {
		d.VerifyPassword = password.Verify
	}
	return &Service{opt: o, Deps: d}
}

// Tokens is what login and refresh hand out.
type Tokens struct {
	AccessToken      string
	ExpiresIn        time.Duration
	RefreshToken     string // empty when no new refresh token was issued
	RefreshExpiresAt time.Time
	SessionID        string
	UserID           string
	Scope            string // the access token's scope claim
}

// RefreshLifetime is the absolute lifetime of a session.
func (s *Service) RefreshLifetime() time.Duration { return s.opt.RefreshTokenTTL }

// Bounds of the lifetimes the configuration accepts (shared/config checks
// them). Revocation entries are kept for these maximums (NewRevocation)
// rather than for the current settings, so lowering a lifetime later cannot let an entry expire
// while a token or session issued under the old setting is still valid.
const (
	MaxAccessTokenTTL  = 24 * time.Hour
	MaxRefreshTokenTTL = 366 * 24 * time.Hour
	MaxClockLeeway     = 5 * time.Minute
)

// randomID returns n random bytes, base64url encoded.
func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Session ids carry their start time: 8 bytes of Unix milliseconds, then 16
// random bytes, base64url (32 characters). A user revocation ends every
// session started at or before its instant; the authorizer reads the start
// from the token's signed sid claim, so it needs no session lookup and has
// millisecond precision where iat has only seconds.
const sessionIDLen = 32

func newSessionID(now time.Time) string {
	b := make([]byte, 24)
	binary.BigEndian.PutUint64(b, uint64(now.UnixMilli()))
	rand.Read(b[8:])
	return base64.RawURLEncoding.EncodeToString(b)
}

// SessionStart returns the start time encoded in a session id.
func SessionStart(sid string) (time.Time, bool) {
	if len(sid) != sessionIDLen {
		return time.Time{}, false
	}
	var b [24]byte
	n, err := base64.RawURLEncoding.Strict().Decode(b[:], []byte(sid))
	if err != nil || n != 24 {
		return time.Time{}, false
	}
	ms := binary.BigEndian.Uint64(b[:8])
	if ms == 0 || ms > 1<<53 {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(ms)), true
}

// Refresh tokens are "<session id>.<32 random bytes, base64url>": 256 bits
// of secret, plus the session id so that refresh is a read by key, never a
// scan or an eventually consistent index query. Only SHA-256 of the whole
// token is stored.
const refreshSecretLen = 43

func newRefreshToken(sid string) string {
	return sid + "." + randomID(32)
}

// parseRefreshToken returns the session id of a well-formed refresh token.
func parseRefreshToken(t string) (string, bool) {
	if len(t) != sessionIDLen+1+refreshSecretLen || t[sessionIDLen] != '.' {
		return "", false
	}
	var buf [32]byte
	if n, err := base64.RawURLEncoding.Strict().Decode(buf[:], []byte(t[sessionIDLen+1:])); err != nil || n != 32 {
		return "", false
	}
	sid := t[:sessionIDLen]
	if _, ok := SessionStart(sid); !ok {
		return "", false
	}
	return sid, true
}

// keyed is HMAC-SHA-256 (RFC 2104) of data under MACKey, for one purpose:
// the purpose and a zero byte come first, so two purposes never share a
// value.
func (s *Service) keyed(purpose, data string) []byte {
	if len(s.MACKey) < 32 {
		// A wiring mistake, caught at init by shared/app and by every test.
		panic("auth: MACKey is not set (32 bytes from kmssign.DeriveKey)")
	}
	m := hmac.New(sha256.New, s.MACKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(data))
	return m.Sum(nil)
}

// successor is the refresh token that replaces presented when it is
// rotated: derived, not random, so that a retry of a refresh whose answer
// was lost (the rotation was written, the client never saw it) gets the
// same token again instead of forking the session or tripping reuse
// detection. Only the functions can compute it (MACKey), so a stolen
// refresh token does not reveal its successors, and only its SHA-256 is
// stored. The session id is kept: a successor is a refresh token of the
// same session, with 256 bits of secret like the first one.
func (s *Service) successor(presented, sid string) string {
	return sid + "." + base64.RawURLEncoding.EncodeToString(s.keyed("refresh-successor", presented))
}

func hashToken(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}

// MaxRotations bounds the refresh tokens one session can issue: each
// rotation keeps a 16-byte prefix (64 KB at the bound; DynamoDB items stop
// at 400 KB). A
// session refreshed every 15 minutes uses 672 in 7 days; past the bound the
// user logs in again.
const MaxRotations = 4096

// RetiredPrefixLen is how much of a retired token's hash is kept: 128 bits
// are enough to recognize a token we issued, and keep a long-lived session's
// record small.
const RetiredPrefixLen = 16

func equalHash(a, b []byte) bool {
	return len(a) > 0 && len(a) == len(b) && subtle.ConstantTimeCompare(a, b) == 1
}

func (sess *Session) isRetired(h []byte) bool {
	found := false
	for _, r := range sess.Retired {
		if len(r) == RetiredPrefixLen && subtle.ConstantTimeCompare(r, h[:RetiredPrefixLen]) == 1 {
			found = true
		}
	}
	return found
}
