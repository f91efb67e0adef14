package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Refresh exchanges refresh tokens, rotating them.
type Refresh struct {
	sessions Sessions
	issuer   *AccessIssuer
	mac      macKey
	end      *sessionEnder
	opt      Options
	log      *slog.Logger
}

// NewRefresh builds the refresh flow: it reads and rotates sessions, reads
// their standing, signs access tokens with issuer and derives successors
// with macKey; a reused token ends its session through revoker.
func NewRefresh(sessions Sessions, revoker *Revoker, issuer *AccessIssuer, macKey []byte, o Options) *Refresh {
	required("Refresh", sessions, revoker, issuer)
	userRevoker("Refresh", revoker)
	o = o.withDefaults()
	return &Refresh{sessions: sessions, issuer: issuer, mac: newMACKey("Refresh", macKey),
		end: newSessionEnder(sessions, revoker, o), opt: o, log: o.Logger}
}

// Refresh exchanges a refresh token for a new access token and a new refresh
// token (rotation, RFC 9700 4.14.2). At most three DynamoDB calls: read the
// session, read its standing (user and revocation entries, one BatchGetItem),
// rotate with a conditional write; plus one KMS Sign.
//
// The next refresh token is derived from the presented one (successor), so
// rotation is idempotent: presenting the same token again gives the same
// next token. What a presented token can be:
//   - the current token of a live session: rotated with one conditional
//     write. Of concurrent requests with it, one write wins; the others find
//     the session rotated to the same successor and get it too, each with
//     its own access token. The chain never forks.
//   - the token just replaced, within RefreshReuseGrace of the moment its
//     rotation was written: a retry after an answer that never arrived (a
//     503, a timeout, a dropped connection) or a second tab. It gets the
//     successor that rotation wrote, unless the chain has moved past it, and
//     a fresh access token; nothing is written.
//   - any older token of the session, or the replaced one after the grace
//     window: reuse, so the session is revoked with every access token it
//     issued, and the caller gets ErrInvalidRefreshToken;
//   - anything else, including a well-formed token for a real session id
//     with a wrong secret: ErrInvalidRefreshToken, nothing touched.
//
// ErrRefreshConflict is left for a replaced token whose successor was not
// derived from it (a session rotated before successors were derived).
//
// A token of the session, whichever, is then held to the session's DPoP
// binding (checkBinding, RFC 9449 5) before anything else: refused, it
// writes nothing, so a token of a bound session is worth nothing without
// the key, not even to end the session as reuse.
func (f *Refresh) Refresh(ctx context.Context, presented string, opts ...RefreshOption) (Tokens, error) {
	var call refreshCall
	for _, o := range opts {
		o(&call)
	}
	sess, h, err := f.end.load(ctx, presented)
	if err != nil {
		return Tokens{}, err
	}
	now := f.opt.Now()
	kind := presentedAs(sess, h, now, f.opt.RefreshReuseGrace)
	if kind == presentedUnknown {
		f.log.InfoContext(ctx, "refresh refused: unknown token for session", "sid", sess.ID)
		return Tokens{}, ErrInvalidRefreshToken
	}
	if err := f.checkDPoP(ctx, sess, call.jkt); err != nil {
		return Tokens{}, err
	}
	if kind == presentedReused {
		return Tokens{}, f.reuseDetected(ctx, sess, now)
	}
	next := f.mac.successor(presented, sess.ID)
	if kind == presentedGrace && !equalHash(sess.TokenHash, hashToken(next)) {
		if !sess.RevokedAt.IsZero() {
			return Tokens{}, ErrInvalidRefreshToken
		}
		f.log.InfoContext(ctx, "refresh conflict: token rotated moments ago to a token not derived from it", "sid", sess.ID, "sub", sess.UserID)
		return Tokens{}, ErrRefreshConflict
	}
	if err := f.checkAlive(ctx, sess, now); err != nil {
		return Tokens{}, err
	}
	access, ttl, err := f.issuer.issue(ctx, sess, now)
	if err != nil {
		return Tokens{}, err
	}
	tokens := Tokens{AccessToken: access, ExpiresIn: ttl, RefreshToken: next,
		RefreshExpiresAt: sess.ExpiresAt, SessionID: sess.ID, UserID: sess.UserID, Scope: sess.Scope, JKT: sess.JKT}
	if kind == presentedGrace {
		f.log.InfoContext(ctx, "refresh repeated within the grace window: same successor", "sid", sess.ID, "sub", sess.UserID)
		return tokens, nil
	}
	if err := f.rotate(ctx, sess, h, next); err != nil {
		return Tokens{}, err
	}
	f.log.InfoContext(ctx, "refresh", "sid", sess.ID, "sub", sess.UserID)
	return tokens, nil
}

// checkAlive refuses a session that its record, its user or a revocation
// entry ends, and takes the scopes from the user record, so a change takes
// effect at the next refresh.
func (f *Refresh) checkAlive(ctx context.Context, sess *Session, now time.Time) error {
	if why := deadReason(sess, now, f.opt.RefreshIdleTimeout); why != "" {
		f.log.InfoContext(ctx, "refresh refused", "sid", sess.ID, "sub", sess.UserID, "reason", why)
		return &SessionEndedError{How: endedHow(why)}
	}
	standing, err := f.sessions.SessionStanding(ctx, sess)
	if err != nil {
		return unavailable("refresh: read standing", err)
	}
	if why := standingDead(sess, standing, now); why != "" {
		f.log.InfoContext(ctx, "refresh refused", "sid", sess.ID, "sub", sess.UserID, "reason", why)
		return &SessionEndedError{How: endedHow(why)}
	}
	sess.Scope = strings.Join(standing.User.Scopes, " ")
	return nil
}

// rotate writes the rotation from the presented token (hash h) to next. The
// replaced token's grace window starts at the moment the write is sent, not
// at the start of the request, and the write gets at most half the window:
// a client whose answer was lost learns it (503) in time to retry within
// the window.
func (f *Refresh) rotate(ctx context.Context, sess *Session, h []byte, next string) error {
	wctx, cancel := context.WithTimeout(ctx, rotateTimeout(f.opt.RefreshReuseGrace))
	defer cancel()
	current, err := f.sessions.RotateSession(wctx, Rotation{
		SessionID: sess.ID, Presented: h, Next: hashToken(next), Scope: sess.Scope, At: f.opt.Now(),
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, ErrRotationConflict) {
		return unavailable("refresh: rotate", err)
	}
	// The condition failed: the session is not at the presented token any
	// more, and current is it as it now is (nil: deleted).
	switch {
	case current == nil || !current.RevokedAt.IsZero():
		f.log.InfoContext(ctx, "refresh refused: session ended during the rotation", "sid", sess.ID, "sub", sess.UserID)
		return ErrInvalidRefreshToken
	case equalHash(current.TokenHash, hashToken(next)):
		// This very rotation is in place: an earlier attempt of our write
		// landed (its answer was lost and the SDK retried), or a concurrent
		// request with the same token made it.
		return nil
	}
	f.log.InfoContext(ctx, "refresh conflict: session rotated elsewhere", "sid", sess.ID, "sub", sess.UserID)
	return ErrRefreshConflict
}

// reuseDetected revokes the session of a rotated-out token and every access
// token it issued (RFC 9700 4.14.2): the legitimate client and an attacker
// both hold tokens of this chain and we cannot tell which is which.
func (f *Refresh) reuseDetected(ctx context.Context, sess *Session, now time.Time) error {
	if !sess.RevokedAt.IsZero() {
		// Ended already, its revocation complete (the mark is written last):
		// a replay writes nothing, so replays cannot grow the feed.
		return ErrInvalidRefreshToken
	}
	f.log.WarnContext(ctx, "refresh token reuse detected: revoking session", "sid", sess.ID, "sub", sess.UserID)
	if err := f.end.end(ctx, sess.ID, "refresh token reuse", now, sess.UserID); err != nil {
		return err
	}
	return fmt.Errorf("%w: %w", ErrInvalidRefreshToken, ErrRefreshTokenReused)
}
