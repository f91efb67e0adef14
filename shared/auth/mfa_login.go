package auth

// A password login of a user with an active TOTP factor stops at a
// challenge (MFARequiredError) instead of tokens; FinishMFA answers it
// with a code and starts the session, amr ["pwd","otp","mfa"] (RFC 8176).

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// SecondFactor is what Login needs to ask users with an active factor for
// a code: the factors and challenges, the secrets' box, and the code
// throttle.
type SecondFactor struct {
	factors  Factors
	verify   verifier
	throttle codeThrottle
}

// NewSecondFactor builds the second step of login: factors stores factors
// and challenges, box opens secrets (KMS), users counts wrong codes (the
// login throttle table), met counts lockouts.
func NewSecondFactor(factors Factors, box SecretBox, users Users, met Metrics, o Options) *SecondFactor {
	required("SecondFactor", factors, box, users, met)
	o = o.withDefaults()
	return &SecondFactor{factors: factors, verify: verifier{factors, box},
		throttle: codeThrottle{users: users, met: met, opt: o, log: o.Logger}}
}

// WithSecondFactor makes l ask users with an active TOTP factor for a
// code (FinishMFA) before it starts a session.
func (l *Login) WithSecondFactor(sf *SecondFactor) *Login {
	required("Login.WithSecondFactor", sf)
	l.second = sf
	return l
}

// mfaTokenLen is the length of a challenge token: 32 random bytes,
// base64url.
const mfaTokenLen = 43

func challengeID(token string) string {
	h := sha256.Sum256([]byte("mfa-challenge\x00" + token))
	return hex.EncodeToString(h[:])
}

// askSecondFactor is called by Login once the password is right and the
// user may sign in: nil for a user without an active factor; otherwise a
// new challenge stored (only its hash), and a MFARequiredError carrying
// it.
func (l *Login) askSecondFactor(ctx context.Context, user *User, dev device, now time.Time) error {
	if l.second == nil {
		return nil
	}
	f, err := l.second.factors.TOTPFactor(ctx, user.ID)
	if err != nil {
		return unavailable("login: read the second factor", err)
	}
	if f == nil || !f.Active {
		return nil
	}
	token := randomID(32)
	c := MFAChallenge{ID: challengeID(token), UserID: user.ID, Username: user.Username, UserAgent: dev.userAgent,
		JKT: dev.jkt, IssuedAt: now.Truncate(time.Millisecond), ExpiresAt: now.Add(MFAChallengeTTL)}
	if err := l.second.factors.PutMFAChallenge(ctx, c); err != nil {
		return unavailable("login: store the second-factor challenge", err)
	}
	l.log.InfoContext(ctx, "login: second factor required", "sub", user.ID)
	return &MFARequiredError{Token: token, ExpiresIn: MFAChallengeTTL}
}

// FinishMFA answers the challenge of a password login (mfaToken, from
// MFARequiredError) with a TOTP code, or with a recovery code when code
// is "", and starts the session as Login would have, with amr pwd, otp
// (for a TOTP code) and mfa, and auth_time now. previous is the refresh
// token the client still holds, as for Login.
//
// A code is accepted once (its time step is stored, RFC 6238 5.2), a
// recovery code once, a challenge once (a conditional delete: of two
// answers one wins) and only within MFAChallengeTTL, and not once a
// revocation cutoff of the user (or the global one) is at or after its
// issue: a password change, logout-all or an operator's revocation ends
// the sign-ins under way with the sessions. Wrong codes count
// against the user's code throttle (locked like passwords: a
// ThrottledError). Every refusal is the same ErrInvalidMFA, but one: a
// DPoP key (WithDPoPKey) other than the password step's, or a proof at one
// step only, is ErrInvalidDPoPProof, and leaves the challenge unused.
func (l *Login) FinishMFA(ctx context.Context, mfaToken, code, recovery, previous string, opts ...LoginOption) (Tokens, error) {
	switch {
	case (code == "") == (recovery == ""):
		return Tokens{}, fmt.Errorf("%w: send a code or a recovery_code", ErrInvalidRequest)
	case code != "" && !validCode(code):
		return Tokens{}, fmt.Errorf("%w: code must be 6 digits", ErrInvalidRequest)
	}
	if l.second == nil || !validChallengeToken(mfaToken) {
		return Tokens{}, ErrInvalidMFA
	}
	sf := l.second
	now := l.opt.Now()
	id := challengeID(mfaToken)
	ch, err := sf.factors.MFAChallenge(ctx, id)
	if err != nil {
		return Tokens{}, unavailable("login: read the second-factor challenge", err)
	}
	if ch == nil || !now.Before(ch.ExpiresAt) {
		l.log.InfoContext(ctx, "second factor failed", "reason", "unknown or expired challenge")
		return Tokens{}, ErrInvalidMFA
	}
	// Read once: the challenge is checked against them here, before
	// anything is written, and the session about to start further down.
	entries, err := l.revoker.userEntries(ctx, ch.UserID)
	if err != nil {
		return Tokens{}, unavailable("login: read the user's revocations", err)
	}
	if challengeRevoked(entries, ch, now) {
		l.log.InfoContext(ctx, "second factor failed", "sub", ch.UserID, "reason", "challenge issued before the user's revocation cutoff")
		return Tokens{}, ErrInvalidMFA
	}
	dev := device{userAgent: ch.UserAgent}
	for _, o := range opts {
		o(&dev)
	}
	// Both steps with a proof of one key, or both without (RFC 9449 5):
	// checked before any code is used and before the challenge is
	// consumed, so a refused attempt leaves the challenge to its holder.
	if dev.jkt != ch.JKT {
		l.log.InfoContext(ctx, "second factor failed", "sub", ch.UserID, "reason", "DPoP key differs from the password step's",
			"challenge_jkt", ch.JKT, "proof_jkt", dev.jkt)
		return Tokens{}, fmt.Errorf("%w: the password step's key %q, this proof's %q", ErrInvalidDPoPProof, ch.JKT, dev.jkt)
	}
	var methods []string
	err = sf.throttle.check(ctx, ch.UserID, now, code != "", func() error {
		f, err := sf.factors.TOTPFactor(ctx, ch.UserID)
		if err != nil {
			return unavailable("login: read the second factor", err)
		}
		if f == nil || !f.Active {
			return ErrInvalidMFA // removed since the password step
		}
		methods, err = sf.verify.use(ctx, f, code, recovery, now)
		return err
	})
	if err != nil {
		return Tokens{}, err
	}
	if err := sf.factors.ConsumeMFAChallenge(ctx, id, now); err != nil {
		if errors.Is(err, ErrChallengeUsed) {
			l.log.InfoContext(ctx, "second factor failed", "sub", ch.UserID, "reason", "challenge already used")
			return Tokens{}, ErrInvalidMFA
		}
		return Tokens{}, unavailable("login: consume the second-factor challenge", err)
	}
	// The user as they are now: disabled or revoked since the password
	// step gets no session.
	user, err := l.users.User(ctx, ch.Username)
	if err != nil {
		return Tokens{}, unavailable("login: read user", err)
	}
	if user == nil || user.Disabled || user.ID != ch.UserID {
		l.log.InfoContext(ctx, "login failed", "sub", ch.UserID, "reason", "user disabled or replaced since the password step")
		return Tokens{}, ErrInvalidCredentials
	}
	if err := l.refuseCovered(ctx, entries, attempt{user: user, who: user.Username}, now); err != nil {
		return Tokens{}, err
	}
	if previous != "" {
		if err := l.end.presented(ctx, previous, "replaced by a new login", now); err != nil {
			return Tokens{}, err
		}
	}
	amr := append(append([]string{AMRPassword}, methods...), AMRMFA)
	tokens, err := l.start.start(ctx, user, amr, dev, now)
	if err != nil {
		return Tokens{}, err
	}
	l.log.InfoContext(ctx, "login", "sub", user.ID, "sid", tokens.SessionID, "amr", amr)
	return tokens, nil
}

// challengeRevoked reports whether one of the user's entries (entries:
// the user's and the global one) has a cutoff at or after the challenge's
// issue, or none (every session): the password step it stands for is
// dead, as a session started at that moment would be (Revocation.Covers).
// "Every session until" (AllUntil) is left out here: it refuses sessions
// starting while it lasts, which refuseCovered checks for the session
// FinishMFA would start, not sign-ins begun before the cutoff.
func challengeRevoked(entries []Revocation, ch *MFAChallenge, now time.Time) bool {
	issued := ch.IssuedAt
	if issued.IsZero() { // a challenge stored before issued_ms was
		issued = ch.ExpiresAt.Add(-MFAChallengeTTL)
	}
	for _, r := range entries {
		r.AllUntil = time.Time{}
		if r.Covers(Target{UserID: ch.UserID, SessionStart: issued}, now) {
			return true
		}
	}
	return false
}

func validChallengeToken(t string) bool {
	if len(t) != mfaTokenLen {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(t)
	return err == nil
}
