package auth

// The session lifecycle every flow shares: the token format (session ids,
// refresh tokens and their successors), the dead-session rule, the grace
// window of a replaced refresh token, issuing an access token, and ending
// a session.

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/authkit/lambda-auth/shared/token"
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

// sessionStartOf returns the start time encoded in a session id.
func sessionStartOf(sid string) (time.Time, bool) {
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
	if _, ok := sessionStartOf(sid); !ok {
		return "", false
	}
	return sid, true
}

// macKey keys the flows' keyed hashes: refresh token successors and login
// throttle keys (32 bytes, from kmssign.DeriveKey: it exists only in KMS
// and in the functions' memory).
type macKey []byte

// newMACKey checks the key's length: a wiring mistake, caught at init by
// shared/app and by every test.
func newMACKey(flow string, k []byte) macKey {
	if len(k) < 32 {
		panic("auth: New" + flow + ": the MAC key is not set (32 bytes from kmssign.DeriveKey)")
	}
	return macKey(k)
}

// sum is HMAC-SHA-256 (RFC 2104) of data under the key, for one purpose:
// the purpose and a zero byte come first, so two purposes never share a
// value.
func (k macKey) sum(purpose, data string) []byte {
	m := hmac.New(sha256.New, k)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(data))
	return m.Sum(nil)
}

// successor is the refresh token that replaces presented when it is
// rotated: derived, not random, so that a retry of a refresh whose answer
// was lost (the rotation was written, the client never saw it) gets the
// same token again instead of forking the session or tripping reuse
// detection. Only the functions can compute it (the MAC key), so a stolen
// refresh token does not reveal its successors, and only its SHA-256 is
// stored. The session id is kept: a successor is a refresh token of the
// same session, with 256 bits of secret like the first one.
func (k macKey) successor(presented, sid string) string {
	return sid + "." + base64.RawURLEncoding.EncodeToString(k.sum("refresh-successor", presented))
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

// retired reports whether h is the hash of a token the session has
// rotated out, compared in constant time.
func retired(sess *Session, h []byte) bool {
	found := false
	for _, r := range sess.Retired {
		if len(r) == RetiredPrefixLen && subtle.ConstantTimeCompare(r, h[:RetiredPrefixLen]) == 1 {
			found = true
		}
	}
	return found
}

// deadReason says why the session record itself no longer allows refresh,
// for an idle timeout (0: none): refresh and the session list share it.
func deadReason(sess *Session, now time.Time, idle time.Duration) string {
	switch {
	case !sess.RevokedAt.IsZero():
		return "session revoked: " + sess.Reason
	case !now.Before(sess.ExpiresAt):
		return "session expired"
	case len(sess.Retired) >= MaxRotations:
		return "rotation limit reached"
	case idle > 0 && now.Sub(sess.LastUsedAt) > idle:
		return "session idle too long"
	}
	return ""
}

// standingDead says why the user or a revocation entry ends the session.
func standingDead(sess *Session, st Standing, now time.Time) string {
	target := Target{SessionID: sess.ID, UserID: sess.UserID, SessionStart: sess.CreatedAt}
	for _, r := range st.Revocations {
		if r.Covers(target, now) {
			if r.Kind == RevokeAll {
				return "every session revoked (global cutoff): " + r.Reason
			}
			return string(r.Kind) + " revoked: " + r.Reason
		}
	}
	switch {
	case st.User == nil:
		return "user gone"
	case st.User.ID == "":
		return "user record without user_id" // login refuses it too; no token without a sub
	case st.User.ID != sess.UserID:
		return "username now names another user"
	case st.User.Disabled:
		return "user disabled"
	}
	return ""
}

// rotateTimeout bounds the rotation write: half the grace window, at least
// 500 ms (and never past the request's own deadline).
func rotateTimeout(grace time.Duration) time.Duration { return max(grace/2, 500*time.Millisecond) }

// ReplacedTokenWindow is how long after its rotation's rotated_at stamp a
// replaced refresh token is answered with its successor, for a grace
// window of grace (REFRESH_REUSE_GRACE). rotated_at is stamped when the
// write is sent; DynamoDB applies it at most the write's timeout later
// (else the caller got a 503 and retries), so this is grace counted from
// the moment the rotation was written. Past it, the token is reuse. 0
// turns it off.
func ReplacedTokenWindow(grace time.Duration) time.Duration {
	if grace <= 0 {
		return 0
	}
	return grace + rotateTimeout(grace)
}

type presentedKind int

const (
	presentedUnknown presentedKind = iota
	presentedCurrent
	presentedGrace
	presentedReused
)

// presentedAs tells what a presented refresh token (hash h) is to its
// session at now, for a grace window of grace (RFC 9700 4.14.2).
func presentedAs(sess *Session, h []byte, now time.Time, grace time.Duration) presentedKind {
	switch {
	case equalHash(sess.TokenHash, h):
		return presentedCurrent
	case equalHash(sess.PrevHash, h):
		if w := ReplacedTokenWindow(grace); w > 0 && now.Sub(sess.RotatedAt) <= w {
			return presentedGrace
		}
		return presentedReused
	case retired(sess, h):
		return presentedReused
	}
	return presentedUnknown
}

// AccessIssuer signs access tokens for sessions (RFC 9068): one KMS Sign
// call each.
type AccessIssuer struct {
	signer   token.Signer
	issuer   string
	audience string
	ttl      time.Duration
}

// NewAccessIssuer is the issuer of this configuration's access tokens
// (Issuer, Audience, AccessTokenTTL), signed by signer.
func NewAccessIssuer(signer token.Signer, o Options) *AccessIssuer {
	required("AccessIssuer", signer)
	return &AccessIssuer{signer: signer, issuer: o.Issuer, audience: o.Audience, ttl: o.AccessTokenTTL}
}

// issue signs an access token for the session. It never outlives the
// session.
func (a *AccessIssuer) issue(ctx context.Context, sess *Session, now time.Time) (string, time.Duration, error) {
	exp := now.Add(a.ttl)
	if sess.ExpiresAt.Before(exp) {
		exp = sess.ExpiresAt
	}
	exp = exp.Truncate(time.Second)
	iat := now.Truncate(time.Second)
	c := &token.Claims{SessionID: sess.ID, ClientID: sess.ClientID, Scope: sess.Scope, AMR: sess.AMR}
	if !sess.AuthTime.IsZero() {
		c.AuthTime = token.NumericDate(sess.AuthTime)
	}
	if sess.JKT != "" {
		c.Confirmation = &token.Confirmation{JKT: sess.JKT}
	}
	c.Issuer = a.issuer
	c.Subject = sess.UserID
	c.Audience = []string{a.audience}
	c.IssuedAt = token.NumericDate(iat)
	c.ExpiresAt = token.NumericDate(exp)
	c.ID = randomID(16) // 128 random bits
	raw, err := token.Issue(ctx, a.signer, c)
	if err != nil {
		if errors.Is(err, token.ErrMissingClaim) {
			return "", 0, err
		}
		return "", 0, unavailable("sign access token", err)
	}
	return raw, exp.Sub(now).Round(time.Second), nil
}

// sessionEnder ends sessions: the one way logout, login (the session it
// replaces), refresh (reuse), the console, RFC 7009 and the session list
// end one.
type sessionEnder struct {
	sessions Sessions
	revoker  *Revoker
	grace    time.Duration // RefreshReuseGrace: which presented tokens are the session's
	log      *slog.Logger
}

func newSessionEnder(sessions Sessions, revoker *Revoker, o Options) *sessionEnder {
	return &sessionEnder{sessions: sessions, revoker: revoker, grace: o.RefreshReuseGrace, log: o.Logger}
}

// end kills the access tokens of a session, then ends its refresh chain:
// the revocation (entry and feed) first, the session's mark last. A
// session marked ended therefore has its revocation complete, and callers
// acting on a client's request skip it (a retry of a half-done one, not
// yet marked, writes everything again and completes it). by is the user
// whose request it is ("" for an operator): Revoker.put.
func (e *sessionEnder) end(ctx context.Context, sid, reason string, now time.Time, by string) error {
	if err := e.revoker.put(ctx, NewRevocation(RevokeSession, sid, now, reason), by); err != nil {
		return unavailable("revoke session", err)
	}
	if err := e.sessions.EndSession(ctx, sid, reason, now); err != nil {
		return unavailable("end session", err)
	}
	return nil
}

// load parses a refresh token and reads its session. A malformed token or
// a missing session costs no more than that read.
func (e *sessionEnder) load(ctx context.Context, presented string) (*Session, []byte, error) {
	sid, ok := parseRefreshToken(presented)
	if !ok {
		return nil, nil, ErrInvalidRefreshToken
	}
	sess, err := e.sessions.Session(ctx, sid)
	if err != nil {
		return nil, nil, unavailable("read session", err)
	}
	if sess == nil {
		return nil, nil, ErrInvalidRefreshToken
	}
	return sess, hashToken(presented), nil
}

// presented ends the session of a refresh token: its current token, the
// one just replaced or any older one. A token that is no token of ours ends
// nothing and is not an error.
func (e *sessionEnder) presented(ctx context.Context, presented, reason string, now time.Time) error {
	sess, h, err := e.load(ctx, presented)
	if errors.Is(err, ErrInvalidRefreshToken) {
		return nil
	}
	if err != nil {
		return err
	}
	// A token of no session of ours ends nothing; a session already ended
	// (its revocation complete) is not written again: repeated logouts
	// cannot grow the revocation feed.
	if presentedAs(sess, h, now, e.grace) == presentedUnknown || !sess.RevokedAt.IsZero() {
		return nil
	}
	if err := e.end(ctx, sess.ID, reason, now, sess.UserID); err != nil {
		return err
	}
	e.log.InfoContext(ctx, "session ended", "sid", sess.ID, "sub", sess.UserID, "reason", reason)
	return nil
}

// sessionStarter starts sessions: every sign-in flow (a password, a second
// factor, a passkey) ends in it, with the methods it used (amr).
type sessionStarter struct {
	sessions Sessions
	issuer   *AccessIssuer
	opt      Options
}

// start writes a new session of user, signed in now by the methods amr,
// and signs its first access token.
func (s sessionStarter) start(ctx context.Context, user *User, amr []string, dev device, now time.Time) (Tokens, error) {
	sid := newSessionID(now)
	refresh := newRefreshToken(sid)
	sess := &Session{
		ID:         sid,
		UserID:     user.ID,
		Username:   user.Username,
		ClientID:   s.opt.ClientID,
		Scope:      strings.Join(user.Scopes, " "),
		TokenHash:  hashToken(refresh),
		CreatedAt:  now,
		RotatedAt:  now,
		LastUsedAt: now,
		ExpiresAt:  now.Add(s.opt.RefreshTokenTTL),
		UserAgent:  dev.userAgent,
		AMR:        amr,
		AuthTime:   cmp.Or(dev.signedIn, now),
		JKT:        dev.jkt,
	}
	if !dev.ends.IsZero() && dev.ends.Before(sess.ExpiresAt) {
		sess.ExpiresAt = dev.ends
	}
	access, ttl, err := s.issuer.issue(ctx, sess, now)
	if err != nil {
		return Tokens{}, err
	}
	if err := s.sessions.CreateSession(ctx, sess); err != nil {
		return Tokens{}, unavailable("login: create session", err)
	}
	return Tokens{AccessToken: access, ExpiresIn: ttl, RefreshToken: refresh,
		RefreshExpiresAt: sess.ExpiresAt, SessionID: sid, UserID: user.ID, Scope: sess.Scope, JKT: sess.JKT}, nil
}
