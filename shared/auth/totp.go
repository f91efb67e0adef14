package auth

// TOTP (RFC 6238) as authenticator apps use it by default: HMAC-SHA-1, 6
// digits, 30 s steps, a 160-bit secret (RFC 4226 4, R6). The code is
// computed here (a few lines of RFC 4226 5.3) rather than with a library,
// so that this package, which shared/guard imports, carries no QR or
// image code; totp_test.go checks it against github.com/pquerna/otp.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
)

const (
	totpStep   = 30 * time.Second
	totpDigits = 6
	// totpSkew is how many steps before and after the current one a code
	// may be of (RFC 6238 5.2 recommends at most one step of network
	// delay): a code lives 60 to 90 s.
	totpSkew = 1
	// TOTPSecretBytes is the shared secret's length: 160 bits, the length
	// RFC 4226 4 (R6) recommends and SHA-1's block.
	TOTPSecretBytes = 20
	// MaxTOTPLabelLen bounds the account label an enrolment puts in the
	// otpauth URI.
	MaxTOTPLabelLen = 64
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// totpStepAt is the time step T of t (RFC 6238 4.2, T0 = 0).
func totpStepAt(t time.Time) int64 { return t.Unix() / int64(totpStep/time.Second) }

// hotp is the RFC 4226 5.3 value of counter under secret, 6 digits.
func hotp(secret []byte, counter int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%0*d", totpDigits, v%1_000_000)
}

// matchStep returns the step, within totpSkew of now's and later than
// last, whose code is code; ok is false if there is none. Every candidate
// is compared in constant time.
func matchStep(secret []byte, code string, now time.Time, last int64) (step int64, ok bool) {
	cur := totpStepAt(now)
	for s := cur - totpSkew; s <= cur+totpSkew; s++ {
		if subtle.ConstantTimeCompare([]byte(hotp(secret, s)), []byte(code)) == 1 && s > last && !ok {
			step, ok = s, true
		}
	}
	return step, ok
}

// validCode reports whether s has the shape of a TOTP code: 6 digits.
func validCode(s string) bool {
	if len(s) != totpDigits {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Recovery codes are lookup secrets of 120 random bits (24 base32
// characters, shown in groups of 4): ASVS 5.0 6.5.2 lets a secret of 112
// bits or more be stored under a plain hash (SHA-256 here, salted with the
// user id), and they are single-use (6.5.1).
const recoveryChars = 24

func newRecoveryCode() string {
	b := make([]byte, 15) // 120 bits
	rand.Read(b)
	s := strings.ToLower(b32.EncodeToString(b))
	var out strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			out.WriteByte('-')
		}
		out.WriteString(s[i : i+4])
	}
	return out.String()
}

// normalRecoveryCode is a recovery code as typed with its separators and
// spaces dropped, lower case; "" if it cannot be one.
func normalRecoveryCode(s string) string {
	if len(s) > 64 {
		return ""
	}
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r == '-' || unicode.IsSpace(r):
		case r >= 'a' && r <= 'z', r >= '2' && r <= '7':
			b.WriteRune(r)
		default:
			return ""
		}
	}
	if b.Len() != recoveryChars {
		return ""
	}
	return b.String()
}

// recoveryHash is what is stored of a recovery code.
func recoveryHash(userID, normal string) string {
	h := sha256.Sum256([]byte("recovery-code\x00" + userID + "\x00" + normal))
	return hex.EncodeToString(h[:])
}

// codeThrottle counts second-factor attempts per user as Login counts
// passwords per username (the same table, Users' attempt methods, and the
// same lockout schedule), under a key of its own ("totp#" and the user
// id): a right password, which clears the password count, does not clear
// this one, so an attacker who has the password cannot reset the count
// of code guesses by signing in again.
type codeThrottle struct {
	users Users
	met   Metrics
	opt   Options
	log   *slog.Logger
}

func (c codeThrottle) key(userID string) string { return "totp#" + userID }

// maxFailures is Options.TOTPMaxFailures, or its default.
func (c codeThrottle) maxFailures() int {
	if c.opt.TOTPMaxFailures > 0 {
		return c.opt.TOTPMaxFailures
	}
	return DefaultTOTPMaxFailures
}

// check counts one attempt, runs try, and locks the user's codes after
// the allowance of wrong ones (ErrInvalidMFA); a right one clears the
// count. totpCode says the attempt is a TOTP code (not a recovery code):
// past TOTPMaxFailures wrong answers in a row it is refused unchecked
// (ErrCodesLocked), a recovery code (120 bits: no guess wins) is still
// tried, and a right one clears the count (RFC 6238 5.2: "the validation
// system ... SHOULD ... limit the number of attempts"; ASVS 5.0 6.3.1).
func (c codeThrottle) check(ctx context.Context, userID string, now time.Time, totpCode bool, try func() error) error {
	window := max(24*time.Hour, 2*c.opt.LoginLockoutMax)
	key := c.key(userID)
	att, err := c.users.ReserveLoginAttempt(ctx, key, now, now.Add(window))
	if err != nil {
		return unavailable("second factor: count attempt", err)
	}
	allow := att.Allow
	if allow == 0 {
		allow = c.opt.LoginMaxFailures
	}
	if att.LockedUntil.After(now) {
		c.log.WarnContext(ctx, "second factor refused: locked", "sub", userID, "attempts", att.Count)
		return &ThrottledError{RetryAfter: att.LockedUntil.Sub(now)}
	}
	lock := func() (time.Time, error) {
		until := now.Add(lockoutAfter(c.opt, att.Count))
		if err := c.users.LockLogin(ctx, key, att.Count, until, until.Add(window)); err != nil {
			return time.Time{}, unavailable("second factor: lock", err)
		}
		return until, nil
	}
	if att.Count > allow {
		until, err := lock()
		if err != nil {
			return err
		}
		return &ThrottledError{RetryAfter: until.Sub(now)}
	}
	// att.Count includes this attempt: maxFailures wrong answers before
	// it refuse a TOTP code unchecked, a failed attempt like a wrong one
	// (it counts, and locks as one does).
	if totpCode && att.Count > c.maxFailures() {
		c.log.WarnContext(ctx, "second factor refused: too many wrong codes, a recovery code is needed", "sub", userID, "attempts", att.Count)
		err = ErrCodesLocked
	} else {
		err = try()
	}
	if errors.Is(err, ErrInvalidMFA) || errors.Is(err, ErrCodesLocked) {
		c.log.InfoContext(ctx, "second factor failed", "sub", userID, "attempts", att.Count)
		if att.Count >= allow {
			if _, lerr := lock(); lerr != nil {
				return lerr
			}
			c.met.LoginLockout()
			c.log.WarnContext(ctx, "second factor locked", "sub", userID, "attempts", att.Count)
		}
		if att.Count == c.maxFailures() && errors.Is(err, ErrInvalidMFA) {
			if att.Count < allow { // else counted just above
				c.met.LoginLockout()
			}
			c.log.WarnContext(ctx, "second factor: TOTP codes refused from now on (a recovery code, an operator or a day without attempts ends it)",
				"sub", userID, "attempts", att.Count)
		}
		return err
	}
	if err != nil {
		return err
	}
	if err := c.users.ClearLoginFailures(ctx, key, att.Count); err != nil {
		c.log.WarnContext(ctx, "clear second-factor attempts", "sub", userID, "err", err)
	}
	return nil
}

// lockoutAfter is how long a name waits after attempt n:
// LoginLockoutBase, doubling with each attempt past LoginMaxFailures, at
// most LoginLockoutMax (passwords and second-factor codes alike).
func lockoutAfter(o Options, n int) time.Duration {
	wait := o.LoginLockoutBase
	for i := o.LoginMaxFailures; i < n && wait < o.LoginLockoutMax; i++ {
		wait *= 2
	}
	return min(wait, o.LoginLockoutMax)
}

// verifier checks second-factor codes against a factor and uses them up.
type verifier struct {
	factors Factors
	box     SecretBox
}

// use checks a TOTP code or (when code is "") a recovery code against the
// user's active factor f and records it as used with a conditional write,
// so a code is accepted once (RFC 6238 5.2) and a recovery code once
// (ASVS 5.0 6.5.1). It returns the methods it proves (RFC 8176): otp for
// a TOTP code; a recovery code is no RFC 4226/6238 OTP and proves only a
// second factor. Any mismatch is ErrInvalidMFA.
func (v verifier) use(ctx context.Context, f *TOTPFactor, code, recovery string, now time.Time) ([]string, error) {
	if code != "" {
		secret, err := v.box.Open(ctx, f.UserID, f.Sealed)
		if err != nil {
			return nil, unavailable("second factor: open the secret", err)
		}
		step, ok := matchStep(secret, code, now, f.LastStep)
		clear(secret)
		if !ok {
			return nil, ErrInvalidMFA
		}
		if err := v.factors.UseTOTPStep(ctx, f.UserID, step); err != nil {
			if errors.Is(err, ErrCodeUsed) {
				return nil, ErrInvalidMFA
			}
			return nil, unavailable("second factor: record the step", err)
		}
		return []string{AMROTP}, nil
	}
	n := normalRecoveryCode(recovery)
	if n == "" {
		return nil, ErrInvalidMFA
	}
	h := recoveryHash(f.UserID, n)
	if !slices.Contains(f.Recovery, h) {
		return nil, ErrInvalidMFA
	}
	if err := v.factors.UseRecoveryCode(ctx, f.UserID, h); err != nil {
		if errors.Is(err, ErrCodeUsed) {
			return nil, ErrInvalidMFA
		}
		return nil, unavailable("second factor: use the recovery code", err)
	}
	return nil, nil
}

// TOTP enrols, shows and removes a signed-in user's TOTP factor.
type TOTP struct {
	factors  Factors
	verify   verifier
	throttle codeThrottle
	issuer   string
	opt      Options
	log      *slog.Logger
}

// NewTOTP builds the TOTP management flow: factors stores the factor,
// box seals its secret (KMS), users counts wrong codes (the login
// throttle table), met counts lockouts. issuerName is the "issuer" an
// authenticator app shows next to the account.
func NewTOTP(factors Factors, box SecretBox, users Users, met Metrics, issuerName string, o Options) *TOTP {
	required("TOTP", factors, box, users, met)
	o = o.withDefaults()
	return &TOTP{factors: factors, verify: verifier{factors, box},
		throttle: codeThrottle{users: users, met: met, opt: o, log: o.Logger}, issuer: issuerName, opt: o, log: o.Logger}
}

// Enrolment is a pending TOTP factor as the user sees it once: the
// secret (base32, for typing) and the otpauth URI (for a QR code).
type Enrolment struct {
	Secret string
	URI    string
}

// Enrol starts an enrolment: a new random secret, sealed and stored as
// the user's pending factor (replacing a pending one). It asks nothing at
// login until Confirm. It needs a recent sign-in (RecentAuthMaxAge), so a
// stolen access token cannot tie the account to the thief's authenticator;
// an active factor must be removed first (ErrFactorExists). label names
// the account in the authenticator app (the username, typically).
func (t *TOTP) Enrol(ctx context.Context, c Caller, label string) (Enrolment, error) {
	now := t.opt.Now()
	if err := (StepUp{MaxAge: int(RecentAuthMaxAge / time.Second)}).Check(c.AMR, c.AuthTime, now); err != nil {
		return Enrolment{}, err
	}
	label = cleanLabel(label)
	if label == "" {
		label = c.UserID
	}
	secret := make([]byte, TOTPSecretBytes)
	rand.Read(secret)
	sealed, err := t.verify.box.Seal(ctx, c.UserID, secret)
	if err != nil {
		return Enrolment{}, unavailable("enrol TOTP: seal the secret", err)
	}
	if err := t.factors.PutPendingTOTP(ctx, &TOTPFactor{UserID: c.UserID, Sealed: sealed, CreatedAt: now}); err != nil {
		if errors.Is(err, ErrFactorExists) {
			return Enrolment{}, err
		}
		return Enrolment{}, unavailable("enrol TOTP: store the factor", err)
	}
	e := Enrolment{Secret: b32.EncodeToString(secret), URI: otpauthURI(t.issuer, label, secret)}
	clear(secret)
	t.log.InfoContext(ctx, "TOTP enrolment started", "sub", c.UserID)
	return e, nil
}

// otpauthURI is the Key URI Format authenticator apps read
// (github.com/google/google-authenticator/wiki/Key-Uri-Format):
// otpauth://totp/ISSUER:LABEL?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30.
func otpauthURI(issuer, label string, secret []byte) string {
	q := url.Values{}
	q.Set("secret", b32.EncodeToString(secret))
	q.Set("issuer", issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", "6")
	q.Set("period", "30")
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + label, RawQuery: q.Encode()}
	return u.String()
}

// cleanLabel keeps a label's printable characters but ':' (the issuer
// separator), at most MaxTOTPLabelLen bytes.
func cleanLabel(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == ':' || !unicode.IsPrint(r) || b.Len()+len(string(r)) > MaxTOTPLabelLen {
			continue
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// Confirm activates the pending factor with a first valid code, and
// returns the recovery codes, shown this once (only their hashes are
// kept). Wrong codes count against the user's second-factor throttle.
func (t *TOTP) Confirm(ctx context.Context, c Caller, code string) ([]string, error) {
	if !validCode(code) {
		return nil, fmt.Errorf("%w: code must be 6 digits", ErrInvalidRequest)
	}
	now := t.opt.Now()
	f, err := t.factors.TOTPFactor(ctx, c.UserID)
	if err != nil {
		return nil, unavailable("confirm TOTP: read the factor", err)
	}
	if f == nil || f.Active {
		return nil, ErrNoFactor
	}
	var codes []string
	err = t.throttle.check(ctx, c.UserID, now, true, func() error {
		secret, err := t.verify.box.Open(ctx, c.UserID, f.Sealed)
		if err != nil {
			return unavailable("confirm TOTP: open the secret", err)
		}
		step, ok := matchStep(secret, code, now, f.LastStep)
		clear(secret)
		if !ok {
			return ErrInvalidMFA
		}
		hashes := make([]string, RecoveryCodeCount)
		codes = make([]string, RecoveryCodeCount)
		for i := range codes {
			codes[i] = newRecoveryCode()
			hashes[i] = recoveryHash(c.UserID, normalRecoveryCode(codes[i]))
		}
		if err := t.factors.ActivateTOTP(ctx, c.UserID, f.Sealed, step, hashes); err != nil {
			if errors.Is(err, ErrCodeUsed) {
				return ErrNoFactor // replaced or confirmed meanwhile
			}
			return unavailable("confirm TOTP: activate", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	t.log.InfoContext(ctx, "TOTP enrolment confirmed", "sub", c.UserID)
	return codes, nil
}

// Remove removes the user's factor. An active one needs a recent sign-in
// (RecentAuthMaxAge, a StepUpError otherwise) and a valid code or an
// unused recovery code, counted by the throttle; a pending one goes
// without. ErrFactorChanged when the factor changed between its read and
// the delete (a pending one confirmed meanwhile, say): nothing removed.
func (t *TOTP) Remove(ctx context.Context, c Caller, code, recovery string) error {
	now := t.opt.Now()
	if err := (StepUp{MaxAge: int(RecentAuthMaxAge / time.Second)}).Check(c.AMR, c.AuthTime, now); err != nil {
		return err
	}
	if code != "" && !validCode(code) || code == "" && recovery == "" {
		return fmt.Errorf("%w: a 6-digit code or a recovery code is required", ErrInvalidRequest)
	}
	f, err := t.factors.TOTPFactor(ctx, c.UserID)
	if err != nil {
		return unavailable("remove TOTP: read the factor", err)
	}
	if f == nil {
		return ErrNoFactor
	}
	if f.Active {
		err := t.throttle.check(ctx, c.UserID, now, code != "", func() error {
			_, err := t.verify.use(ctx, f, code, recovery, now)
			return err
		})
		if err != nil {
			return err
		}
	}
	// One conditional delete on what was read: a pending factor confirmed
	// meanwhile (by another request) is not removed without a code.
	if err := t.factors.DeleteTOTP(ctx, f); err != nil {
		if errors.Is(err, ErrFactorChanged) {
			t.log.InfoContext(ctx, "TOTP removal refused", "sub", c.UserID, "reason", "factor changed since it was read")
			return err
		}
		return unavailable("remove TOTP: delete", err)
	}
	t.log.InfoContext(ctx, "TOTP removed", "sub", c.UserID)
	return nil
}

// FactorStatus is what a user may know of their own factor.
type FactorStatus struct {
	Active        bool
	Pending       bool
	RecoveryCodes int // unused recovery codes left
}

// Status reads the user's factor.
func (t *TOTP) Status(ctx context.Context, userID string) (FactorStatus, error) {
	f, err := t.factors.TOTPFactor(ctx, userID)
	if err != nil {
		return FactorStatus{}, unavailable("TOTP status: read the factor", err)
	}
	if f == nil {
		return FactorStatus{}, nil
	}
	return FactorStatus{Active: f.Active, Pending: !f.Active, RecoveryCodes: len(f.Recovery)}, nil
}
