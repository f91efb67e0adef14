package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenBytes bounds what Verify reads; our tokens are well under 1 KiB.
const MaxTokenBytes = 8 << 10

// PublicKey is one verification key with the single algorithm bound to it.
// The token's "alg" header must name exactly that algorithm (RFC 8725 3.1):
// the header never chooses how a key is used.
type PublicKey struct {
	KID string
	Alg string
	Key crypto.PublicKey
}

// Verifier checks access tokens against a fixed set of keys.
type Verifier struct {
	keys        map[string]verifyKey
	validator   *jwt.Validator
	maxLifetime time.Duration // 0: any
	leeway      time.Duration
	now         func() time.Time
}

type verifyKey struct {
	alg string
	ec  *ecdsa.PublicKey // ES256, ES384, ES512
	rsa *rsa.PublicKey   // RS256, PS256
	// ECDSA: the size of R and of S, and n/2 (the largest S accepted) as
	// big-endian bytes of that size.
	size      int
	halfOrder []byte
}

// Option configures a Verifier.
type Option func(*options)

type options struct {
	leeway      time.Duration
	now         func() time.Time
	maxLifetime time.Duration
}

// WithLeeway allows this much clock skew on exp, nbf and iat.
func WithLeeway(d time.Duration) Option { return func(o *options) { o.leeway = d } }

// WithTimeFunc injects the clock (tests).
func WithTimeFunc(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithMaxLifetime refuses a token whose exp is more than d after its iat:
// no token of the current configuration lives longer, so a verifier that
// keeps revocations only for that long (a replica of the revocation feed)
// never accepts a token older than what it holds.
func WithMaxLifetime(d time.Duration) Option { return func(o *options) { o.maxLifetime = d } }

// NewVerifier returns a Verifier that accepts tokens for audience from issuer
// signed by one of keys.
func NewVerifier(issuer, audience string, keys []PublicKey, opts ...Option) (*Verifier, error) {
	if issuer == "" || audience == "" {
		return nil, errors.New("token: verifier needs an issuer and an audience")
	}
	if len(keys) == 0 {
		return nil, errors.New("token: verifier needs at least one key")
	}
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	v := &Verifier{keys: make(map[string]verifyKey, len(keys)), maxLifetime: o.maxLifetime, leeway: o.leeway, now: o.now}
	for _, k := range keys {
		if err := checkKeyAlg(k); err != nil {
			return nil, err
		}
		if prev, dup := v.keys[k.KID]; dup {
			if !prev.same(k) {
				return nil, fmt.Errorf("two different keys have the kid %q", k.KID)
			}
			continue // the same key listed twice (current and previous)
		}
		v.keys[k.KID] = newVerifyKey(k)
	}
	v.validator = jwt.NewValidator(
		jwt.WithIssuer(issuer),       // RFC 9068 4 step 3, RFC 8725 3.8
		jwt.WithAudience(audience),   // RFC 9068 4 step 4, RFC 8725 3.9
		jwt.WithExpirationRequired(), // RFC 9068 4 step 6
		jwt.WithIssuedAt(),           // iat in the future is refused
		jwt.WithLeeway(o.leeway),
		jwt.WithTimeFunc(o.now),
	)
	return v, nil
}

// checkKeyAlg refuses a key whose type does not fit its algorithm, so a
// misconfiguration fails at init and not as a confusing deny.
func checkKeyAlg(k PublicKey) error {
	if k.KID == "" {
		return errors.New("token: key without kid")
	}
	switch k.Alg {
	case "ES256", "ES384", "ES512":
		ec, ok := k.Key.(*ecdsa.PublicKey)
		want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[k.Alg]
		if !ok || ec.Curve != want {
			return fmt.Errorf("token: key %s is not on the curve of %s", k.KID, k.Alg)
		}
	case "RS256", "PS256":
		rk, ok := k.Key.(*rsa.PublicKey)
		if !ok || rk.N.BitLen() < 2048 {
			return fmt.Errorf("token: key %s is not an RSA key of 2048 bits or more", k.KID)
		}
	default:
		return fmt.Errorf("token: algorithm %q is not supported", k.Alg)
	}
	return nil
}

var b64 = base64.RawURLEncoding.Strict()

// onlyTokenBytes reports whether every byte of s is in tokenByte, eight
// at a time.
func onlyTokenBytes(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if !(tokenByte[s[i]] && tokenByte[s[i+1]] && tokenByte[s[i+2]] && tokenByte[s[i+3]] &&
			tokenByte[s[i+4]] && tokenByte[s[i+5]] && tokenByte[s[i+6]] && tokenByte[s[i+7]]) {
			return false
		}
	}
	for ; i < len(s); i++ {
		if !tokenByte[s[i]] {
			return false
		}
	}
	return true
}

// tokenByte holds the bytes a compact JWS may have: A-Z a-z 0-9 - _ and '.'.
var tokenByte = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
	}
	return t
}()

// Verify checks raw (the compact JWS, without "Bearer ") and returns its
// claims. Any error means the token must be refused.
func (v *Verifier) Verify(raw string) (*Claims, error) {
	if len(raw) > MaxTokenBytes {
		return nil, ErrTooLarge
	}
	// Only the base64url alphabet and the two dots: Go's base64 decoder
	// would skip CR and LF, so one token could be written several ways.
	if !onlyTokenBytes(raw) {
		return nil, ErrMalformed
	}
	dot1, dot2, ok := segments(raw)
	if !ok {
		return nil, ErrMalformed
	}
	b := []byte(raw) // one copy: the decoders and hashes below read bytes

	// Unpadded base64url only, canonical (RFC 7515 2, strict decoding).
	var hbuf [160]byte
	hb, err := decodeSegment(hbuf[:], b[:dot1])
	if err != nil {
		return nil, fmt.Errorf("%w: header encoding", ErrMalformed)
	}
	var hvals [128]byte
	h, err := parseHeader(hb, hvals[:0])
	if err != nil {
		return nil, err
	}
	// RFC 9068 4 step 1 / RFC 8725 3.11: explicit typing, so an ID token or
	// any other JWT of the same issuer is not taken for an access token.
	if !bytes.EqualFold(h.typ, []byte(Type)) && !bytes.EqualFold(h.typ, []byte("application/"+Type)) {
		return nil, ErrType
	}
	k, ok := v.keys[string(h.kid)]
	if !ok {
		return nil, ErrUnknownKey
	}
	// RFC 8725 3.1: the algorithm comes from the key, the header must agree.
	if string(h.alg) != k.alg {
		return nil, ErrAlgorithm
	}
	if err := k.check(b[:dot2], b[dot2+1:]); err != nil {
		return nil, err
	}

	var pbuf [768]byte
	pb, err := decodeSegment(pbuf[:], b[dot1+1:dot2])
	if err != nil {
		return nil, fmt.Errorf("%w: payload encoding", ErrMalformed)
	}
	c, err := parseClaims(pb)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	if err := v.checkClaims(c); err != nil {
		return nil, err
	}
	return c, nil
}

// check decodes the signature segment seg and verifies it over the
// signing input (RFC 7515 5.2 steps 6-8).
func (k *verifyKey) check(signingInput, seg []byte) error {
	var sbuf [512]byte // RSA 4096
	sig, err := decodeSegment(sbuf[:], seg)
	if err != nil {
		return fmt.Errorf("%w: signature encoding", ErrMalformed)
	}
	if !k.verify(signingInput, sig) {
		return ErrSignature
	}
	return nil
}

// segments finds the two dots of a compact JWS: exactly three non-empty
// segments (a JWE has five; anything else is not ours).
func segments(raw string) (dot1, dot2 int, ok bool) {
	dot1 = strings.IndexByte(raw, '.')
	if dot1 <= 0 {
		return 0, 0, false
	}
	dot2 = strings.IndexByte(raw[dot1+1:], '.')
	if dot2 <= 0 {
		return 0, 0, false
	}
	dot2 += dot1 + 1
	if strings.IndexByte(raw[dot2+1:], '.') >= 0 || dot2 == len(raw)-1 {
		return 0, 0, false
	}
	return dot1, dot2, true
}

// checkClaims holds a signed token's claims to RFC 9068 4 steps 3-6 and
// RFC 8725 3.8/3.9 (iss, aud, exp, nbf, iat), the claims this service
// requires, and the longest lifetime it issues.
func (v *Verifier) checkClaims(c *Claims) error {
	if err := v.validator.Validate(c); err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return fmt.Errorf("%w: %w: %v", ErrClaims, ErrExpired, err)
		}
		return fmt.Errorf("%w: %v", ErrClaims, err)
	}
	if missing := c.required(); missing != "" {
		return fmt.Errorf("%w: %s", ErrMissingClaim, missing)
	}
	if v.maxLifetime > 0 && c.ExpiresAt.Sub(c.IssuedAt.Time) > v.maxLifetime {
		return fmt.Errorf("%w: lives %s, longer than %s", ErrClaims, c.ExpiresAt.Sub(c.IssuedAt.Time), v.maxLifetime)
	}
	return nil
}

// checkTimes runs again the claim checks that depend on the moment, as
// Verify's validator does them (RFC 9068 4 step 6, RFC 8725 3.8): exp in
// the future, nbf and iat not, each with the leeway. A cached token passes
// them on every use; its iss, aud and signature do not change.
func (v *Verifier) checkTimes(c *Claims) error {
	now := v.now()
	switch {
	case c.ExpiresAt == nil || !now.Before(c.ExpiresAt.Add(v.leeway)):
		return fmt.Errorf("%w: %w: %w", ErrClaims, ErrExpired, jwt.ErrTokenExpired)
	case c.NotBefore != nil && now.Add(v.leeway).Before(c.NotBefore.Time):
		return fmt.Errorf("%w: %w", ErrClaims, jwt.ErrTokenNotValidYet)
	case c.IssuedAt != nil && now.Add(v.leeway).Before(c.IssuedAt.Time):
		return fmt.Errorf("%w: %w", ErrClaims, jwt.ErrTokenUsedBeforeIssued)
	}
	return nil
}

// decodeSegment decodes one base64url segment into buf, or into a new
// slice when buf is too small.
func decodeSegment(buf, seg []byte) ([]byte, error) {
	n := b64.DecodedLen(len(seg))
	if n > len(buf) {
		buf = make([]byte, n)
	}
	n, err := b64.Decode(buf[:n], seg)
	return buf[:n], err
}
