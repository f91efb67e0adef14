package token

// The verifier as it was before the one-pass scanner (encoding/json tokens
// and json.Unmarshal, golang-jwt's signing methods), kept as the oracle of
// the differential tests: both must accept and refuse the same tokens, for
// the same reason, with the same claims.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

func referenceVerify(v *Verifier, raw string) (*Claims, error) {
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
	h, err := refParseHeader(hb)
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
	var key any = k.rsa
	if k.ec != nil {
		key = k.ec
		if half := new(big.Int).Rsh(k.ec.Curve.Params().N, 1); len(sig)%2 == 0 && new(big.Int).SetBytes(sig[len(sig)/2:]).Cmp(half) > 0 {
			return nil, ErrSignature
		}
	}
	if err := jwt.GetSigningMethod(k.alg).Verify(raw[:dot2], sig, key); err != nil {
		return nil, ErrSignature
	}

	pb, err := b64.DecodeString(raw[dot1+1 : dot2])
	if err != nil {
		return nil, fmt.Errorf("%w: payload encoding", ErrMalformed)
	}
	if err := refCheckObject(pb); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	var c Claims
	if err := json.Unmarshal(pb, &c); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	// The one rule added after this oracle was frozen: dates between the
	// years 1 and 9999 (time.Time wraps beyond them).
	for _, d := range []*jwt.NumericDate{c.ExpiresAt, c.NotBefore, c.IssuedAt, c.AuthTime} {
		if d != nil && !InNumericDateRange(float64(d.Unix())) {
			return nil, fmt.Errorf("%w: payload: a date is out of range", ErrMalformed)
		}
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
func refParseHeader(b []byte) (header, error) {
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
func refCheckObject(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	if err := refWalkObject(dec, 1); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	return nil
}

// claimNames are the payload members the service reads. encoding/json
// matches member names case-insensitively, so "EXP" or "ſub" would be read
// as exp or sub here and ignored by other verifiers: such spellings are
// refused, and so are exp, iat and nbf that are not JSON numbers.
var refClaimNames = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true,
	"jti": true, "sid": true, "client_id": true, "scope": true,
	"cnf": true, "amr": true, "auth_time": true,
}

// fold maps a member name to the form encoding/json compares.
func fold(k string) string { return strings.ToLower(strings.ToUpper(k)) }

func refWalkObject(dec *json.Decoder, depth int) error {
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
		if depth == 1 && refClaimNames[f] && k != f {
			return fmt.Errorf("member %q is not spelled %q", k, f)
		}
		if depth == 1 && k == "cnf" {
			if err := refWalkCnf(dec, depth); err != nil {
				return err
			}
			continue
		}
		if depth == 1 && (k == "exp" || k == "iat" || k == "nbf" || k == "auth_time") {
			t, err := dec.Token()
			if err != nil {
				return err
			}
			if _, isNum := t.(json.Number); !isNum {
				return fmt.Errorf("member %q is not a number", k)
			}
			continue
		}
		if err := refWalkValue(dec, depth); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

// refWalkCnf walks cnf: inside it, jkt must be spelled exactly.
func refWalkCnf(dec *json.Decoder, depth int) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t != json.Delim('{') {
		if d, isDelim := t.(json.Delim); isDelim {
			return fmt.Errorf("cnf is %v", d)
		}
		return nil
	}
	seen := map[string]struct{}{}
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
		if f == "jkt" && k != f {
			return fmt.Errorf("cnf member %q is not spelled jkt", k)
		}
		if err := refWalkValue(dec, depth+1); err != nil {
			return err
		}
	}
	_, err = dec.Token() // '}'
	return err
}

func refWalkValue(dec *json.Decoder, depth int) error {
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
		return refWalkObject(dec, depth+1)
	case '[':
		for dec.More() {
			if err := refWalkValue(dec, depth+1); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		return err
	}
	return fmt.Errorf("unexpected %v", d)
}
