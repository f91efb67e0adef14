package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
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
	keys      map[string]verifyKey
	validator *jwt.Validator
}

type verifyKey struct {
	alg       string
	method    jwt.SigningMethod
	key       crypto.PublicKey
	halfOrder *big.Int // ECDSA: n/2, the largest S accepted
}

// Option configures a Verifier.
type Option func(*options)

type options struct {
	leeway time.Duration
	now    func() time.Time
}

// WithLeeway allows this much clock skew on exp, nbf and iat.
func WithLeeway(d time.Duration) Option { return func(o *options) { o.leeway = d } }

// WithTimeFunc injects the clock (tests).
func WithTimeFunc(now func() time.Time) Option { return func(o *options) { o.now = now } }

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
	v := &Verifier{keys: make(map[string]verifyKey, len(keys))}
	for _, k := range keys {
		if err := checkKeyAlg(k); err != nil {
			return nil, err
		}
		if _, dup := v.keys[k.KID]; dup {
			continue // the same key listed twice (current and previous)
		}
		vk := verifyKey{alg: k.Alg, method: jwt.GetSigningMethod(k.Alg), key: k.Key}
		if ec, ok := k.Key.(*ecdsa.PublicKey); ok {
			vk.halfOrder = new(big.Int).Rsh(ec.Curve.Params().N, 1)
		}
		v.keys[k.KID] = vk
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

// Verify checks raw (the compact JWS, without "Bearer ") and returns its
// claims. Any error means the token must be refused.
func (v *Verifier) Verify(raw string) (*Claims, error) {
	if len(raw) > MaxTokenBytes {
		return nil, ErrTooLarge
	}
	// Only the base64url alphabet and the two dots: Go's base64 decoder
	// would skip CR and LF, so one token could be written several ways.
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return nil, ErrMalformed
		}
	}
	// Exactly three segments: a JWE (five) or anything else is not ours.
	dot1 := strings.IndexByte(raw, '.')
	if dot1 <= 0 {
		return nil, ErrMalformed
	}
	dot2 := strings.IndexByte(raw[dot1+1:], '.')
	if dot2 <= 0 {
		return nil, ErrMalformed
	}
	dot2 += dot1 + 1
	if strings.IndexByte(raw[dot2+1:], '.') >= 0 || dot2 == len(raw)-1 {
		return nil, ErrMalformed
	}

	// Unpadded base64url only, canonical (RFC 7515 2, strict decoding).
	hb, err := b64.DecodeString(raw[:dot1])
	if err != nil {
		return nil, fmt.Errorf("%w: header encoding", ErrMalformed)
	}
	h, err := parseHeader(hb)
	if err != nil {
		return nil, err
	}
	// RFC 9068 4 step 1 / RFC 8725 3.11: explicit typing, so an ID token or
	// any other JWT of the same issuer is not taken for an access token.
	if !strings.EqualFold(h.Typ, Type) && !strings.EqualFold(h.Typ, "application/"+Type) {
		return nil, ErrType
	}
	k, ok := v.keys[h.Kid]
	if !ok {
		return nil, ErrUnknownKey
	}
	// RFC 8725 3.1: the algorithm comes from the key, the header must agree.
	if h.Alg != k.alg {
		return nil, ErrAlgorithm
	}
	sig, err := b64.DecodeString(raw[dot2+1:])
	if err != nil {
		return nil, fmt.Errorf("%w: signature encoding", ErrMalformed)
	}
	// golang-jwt's ECDSA check requires the fixed-size R||S form (RFC 7518
	// 3.4), so a DER signature is refused, and crypto/ecdsa rejects r or s
	// of zero (CVE-2022-21449). Our signer emits low S only, so the high-S
	// twin of a valid signature (same token, other bytes) is refused too.
	if k.halfOrder != nil && len(sig)%2 == 0 && new(big.Int).SetBytes(sig[len(sig)/2:]).Cmp(k.halfOrder) > 0 {
		return nil, ErrSignature
	}
	if err := k.method.Verify(raw[:dot2], sig, k.key); err != nil {
		return nil, ErrSignature
	}

	pb, err := b64.DecodeString(raw[dot1+1 : dot2])
	if err != nil {
		return nil, fmt.Errorf("%w: payload encoding", ErrMalformed)
	}
	if err := checkObject(pb); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	var c Claims
	if err := json.Unmarshal(pb, &c); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	// RFC 9068 4 steps 3-6 and RFC 8725 3.8/3.9: iss, aud, exp, nbf, iat.
	if err := v.validator.Validate(&c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrClaims, err)
	}
	if missing := c.required(); missing != "" {
		return nil, fmt.Errorf("%w: %s", ErrMissingClaim, missing)
	}
	return &c, nil
}

// parseHeader reads the JOSE header. Only alg, kid and typ are accepted, each
// once and as a string: jku, x5u, jwk and x5c would name keys the attacker
// chose (RFC 8725 3.10), and crit extensions we do not understand must make
// the token invalid (RFC 7515 4.1.11).
func parseHeader(b []byte) (header, error) {
	var h header
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return h, fmt.Errorf("%w: not a JSON object", ErrHeader)
	}
	seen := 0
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return h, fmt.Errorf("%w: %v", ErrHeader, err)
		}
		vt, err := dec.Token()
		if err != nil {
			return h, fmt.Errorf("%w: %v", ErrHeader, err)
		}
		val, isString := vt.(string)
		if !isString {
			return h, fmt.Errorf("%w: member %q is not a string", ErrHeader, kt)
		}
		var bit int
		switch kt {
		case "alg":
			bit, h.Alg = 1, val
		case "kid":
			bit, h.Kid = 2, val
		case "typ":
			bit, h.Typ = 4, val
		default:
			return h, fmt.Errorf("%w: member %q not accepted", ErrHeader, kt)
		}
		if seen&bit != 0 {
			return h, fmt.Errorf("%w: duplicate member %q", ErrHeader, kt)
		}
		seen |= bit
	}
	if _, err := dec.Token(); err != nil {
		return h, fmt.Errorf("%w: %v", ErrHeader, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return h, fmt.Errorf("%w: trailing data", ErrHeader)
	}
	if seen != 7 {
		return h, fmt.Errorf("%w: alg, kid and typ are required", ErrHeader)
	}
	return h, nil
}

// checkObject makes sure b is a single JSON object with no duplicate member
// names at any depth. encoding/json silently keeps the last of duplicates, so
// two parsers could read different claims from the same token (RFC 8259 4,
// RFC 7515 5.2 step 4 says such a JWS must be rejected or read unambiguously).
func checkObject(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	if err := walkObject(dec, 1); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	return nil
}

const maxDepth = 16

// claimNames are the payload members the service reads. encoding/json
// matches member names case-insensitively, so "EXP" or "ſub" would be read
// as exp or sub here and ignored by other verifiers: such spellings are
// refused, and so are exp, iat and nbf that are not JSON numbers.
var claimNames = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true,
	"jti": true, "sid": true, "client_id": true, "scope": true,
}

// fold maps a member name to the form encoding/json compares.
func fold(k string) string { return strings.ToLower(strings.ToUpper(k)) }

func walkObject(dec *json.Decoder, depth int) error {
	seen := make(map[string]struct{}, 12)
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return err
		}
		k := kt.(string)
		f := fold(k)
		if _, dup := seen[f]; dup {
			return fmt.Errorf("duplicate member %q", k)
		}
		seen[f] = struct{}{}
		if depth == 1 && claimNames[f] && k != f {
			return fmt.Errorf("member %q is not spelled %q", k, f)
		}
		if depth == 1 && (k == "exp" || k == "iat" || k == "nbf") {
			t, err := dec.Token()
			if err != nil {
				return err
			}
			if _, isNum := t.(json.Number); !isNum {
				return fmt.Errorf("member %q is not a number", k)
			}
			continue
		}
		if err := walkValue(dec, depth); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

func walkValue(dec *json.Decoder, depth int) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	d, isDelim := t.(json.Delim)
	if !isDelim {
		return nil
	}
	if depth >= maxDepth {
		return errors.New("nested too deep")
	}
	switch d {
	case '{':
		return walkObject(dec, depth+1)
	case '[':
		for dec.More() {
			if err := walkValue(dec, depth+1); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		return err
	}
	return fmt.Errorf("unexpected %v", d)
}
