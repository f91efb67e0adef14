package dpop

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"

	"github.com/authkit/lambda-auth/shared/token"
)

// JWK is the public key of a proof, as its jwk header carries it (RFC 7517):
// the members RFC 7638 section 3.2 requires for its key type, base64url
// values as sent (Verify checked they are canonical).
type JWK struct {
	Kty string // "EC", "OKP" or "RSA"
	Crv string // EC: "P-256" or "P-384"; OKP: "Ed25519"
	X   string // EC and OKP
	Y   string // EC
	N   string // RSA modulus
	E   string // RSA exponent
}

// Thumbprint is the RFC 7638 JWK thumbprint of j: SHA-256 over the JSON
// object of the required members of its key type, in lexicographic order,
// without white space (section 3.3), base64url without padding. It is the
// value of an access token's cnf.jkt claim (RFC 9449 section 6.1) and equals
// token.Thumbprint of the same key.
func Thumbprint(j JWK) (string, error) {
	var buf [1024]byte
	sum, err := thumbprint(buf[:0], j)
	if err != nil {
		return "", err
	}
	return b64.EncodeToString(sum[:]), nil
}

func thumbprint(buf []byte, j JWK) ([sha256.Size]byte, error) {
	var zero [sha256.Size]byte
	// Every member is written as is between quotes: RFC 7638 3.3 writes
	// them with no escaping, which is only right for values that need none.
	for _, v := range [...]string{j.Kty, j.Crv, j.X, j.Y, j.N, j.E} {
		if !jsonSafe(v) {
			return zero, fmt.Errorf("%w: a member needs JSON escaping", ErrKey)
		}
	}
	switch j.Kty {
	case "EC": // crv, kty, x, y (RFC 7638 3.2)
		if j.Crv == "" || j.X == "" || j.Y == "" {
			return zero, fmt.Errorf("%w: EC key needs crv, x and y", ErrKey)
		}
		buf = append(buf, `{"crv":"`...)
		buf = append(buf, j.Crv...)
		buf = append(buf, `","kty":"EC","x":"`...)
		buf = append(buf, j.X...)
		buf = append(buf, `","y":"`...)
		buf = append(buf, j.Y...)
		buf = append(buf, `"}`...)
	case "OKP": // crv, kty, x (RFC 8037 2)
		if j.Crv == "" || j.X == "" {
			return zero, fmt.Errorf("%w: OKP key needs crv and x", ErrKey)
		}
		buf = append(buf, `{"crv":"`...)
		buf = append(buf, j.Crv...)
		buf = append(buf, `","kty":"OKP","x":"`...)
		buf = append(buf, j.X...)
		buf = append(buf, `"}`...)
	case "RSA": // e, kty, n (RFC 7638 3.2)
		if j.N == "" || j.E == "" {
			return zero, fmt.Errorf("%w: RSA key needs n and e", ErrKey)
		}
		buf = append(buf, `{"e":"`...)
		buf = append(buf, j.E...)
		buf = append(buf, `","kty":"RSA","n":"`...)
		buf = append(buf, j.N...)
		buf = append(buf, `"}`...)
	default:
		return zero, fmt.Errorf("%w: kty %q", ErrKey, clip(j.Kty))
	}
	return sha256.Sum256(buf), nil
}

// jsonSafe reports whether s is printable ASCII other than '"' and '\'.
func jsonSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

var b64 = base64.RawURLEncoding.Strict()

// Bounds on an RSA proof key: RFC 7518 3.3 requires 2048 bits at least; the
// upper bound caps the CPU a client can make a check cost (the key is the
// client's choice).
const (
	minRSABits = 2048
	maxRSABits = 4096
)

// publicKey builds the key of j for alg and checks that they match (RFC
// 9449 4.3 step 5: the key type and curve must be those of alg), in ecKey,
// okpKey or rsaKey.
func publicKey(alg string, j *JWK) (crypto.PublicKey, error) {
	switch alg {
	case "ES256", "ES384":
		return ecKey(alg, j)
	case "EdDSA", "Ed25519":
		return okpKey(alg, j)
	case "RS256", "PS256":
		return rsaKey(alg, j)
	}
	return nil, fmt.Errorf("%w: %q", ErrAlgorithm, clip(alg))
}

// ecKey is publicKey for ES256 (P-256) and ES384 (P-384): coordinates must
// have the full size of the curve (RFC 7518 6.2.1.2) and be a point of it.
func ecKey(alg string, j *JWK) (crypto.PublicKey, error) {
	curve, size := elliptic.P256(), 32
	if alg == "ES384" {
		curve, size = elliptic.P384(), 48
	}
	if j.Kty != "EC" || j.Crv != curve.Params().Name {
		return nil, fmt.Errorf("%w: %s needs an EC key on %s, got kty %q crv %q", ErrKey, alg, curve.Params().Name, clip(j.Kty), clip(j.Crv))
	}
	if j.N != "" || j.E != "" {
		return nil, fmt.Errorf("%w: EC key with RSA members", ErrKey)
	}
	var pt [1 + 2*48]byte
	pt[0] = 4 // uncompressed point (SEC 1 2.3.3)
	if err := decodeExact(pt[1:1+size], j.X); err != nil {
		return nil, fmt.Errorf("%w: x: %v", ErrKey, err)
	}
	if err := decodeExact(pt[1+size:1+2*size], j.Y); err != nil {
		return nil, fmt.Errorf("%w: y: %v", ErrKey, err)
	}
	k, err := ecdsa.ParseUncompressedPublicKey(curve, pt[:1+2*size])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return k, nil
}

// okpKey is publicKey for EdDSA and Ed25519: an OKP key on Ed25519 (RFC 8037
// 2), x of exactly 32 bytes.
func okpKey(alg string, j *JWK) (crypto.PublicKey, error) {
	if j.Kty != "OKP" || j.Crv != "Ed25519" {
		return nil, fmt.Errorf("%w: %s needs an OKP key on Ed25519, got kty %q crv %q", ErrKey, alg, clip(j.Kty), clip(j.Crv))
	}
	if j.Y != "" || j.N != "" || j.E != "" {
		return nil, fmt.Errorf("%w: OKP key with EC or RSA members", ErrKey)
	}
	k := make(ed25519.PublicKey, ed25519.PublicKeySize)
	if err := decodeExact(k, j.X); err != nil {
		return nil, fmt.Errorf("%w: x: %v", ErrKey, err)
	}
	return k, nil
}

// rsaKey is publicKey for RS256 and PS256: n and e must have no leading zero
// octet (RFC 7518 6.3.1.1), n minRSABits to maxRSABits long, e odd, at
// least 3 and below 2^31.
func rsaKey(alg string, j *JWK) (crypto.PublicKey, error) {
	if j.Kty != "RSA" {
		return nil, fmt.Errorf("%w: %s needs an RSA key, got kty %q", ErrKey, alg, clip(j.Kty))
	}
	if j.Crv != "" || j.X != "" || j.Y != "" {
		return nil, fmt.Errorf("%w: RSA key with EC members", ErrKey)
	}
	n, err := b64.DecodeString(j.N)
	if err != nil || len(n) == 0 || n[0] == 0 {
		return nil, fmt.Errorf("%w: n is not a minimal base64url integer", ErrKey)
	}
	if bits := new(big.Int).SetBytes(n).BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("%w: RSA key of %d bits, want %d to %d", ErrKey, bits, minRSABits, maxRSABits)
	}
	e, err := b64.DecodeString(j.E)
	if err != nil || len(e) == 0 || e[0] == 0 || len(e) > 4 {
		return nil, fmt.Errorf("%w: e is not a minimal base64url integer below 2^31", ErrKey)
	}
	var ev int
	for _, c := range e {
		ev = ev<<8 | int(c)
	}
	if ev < 3 || ev&1 == 0 || ev > 1<<31-1 {
		return nil, fmt.Errorf("%w: RSA exponent %d", ErrKey, ev)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: ev}, nil
}

// decodeExact decodes s, canonical unpadded base64url, into exactly dst.
func decodeExact(dst []byte, s string) error {
	if b64.DecodedLen(len(s)) != len(dst) {
		return fmt.Errorf("%d characters, want the encoding of %d bytes", len(s), len(dst))
	}
	n, err := b64.Decode(dst, []byte(s))
	if err != nil {
		return err
	}
	if n != len(dst) {
		return errors.New("short")
	}
	return nil
}

// verifySignature checks sig over signingInput with key for alg.
//
// ECDSA signatures must have the fixed-size R||S form (RFC 7518 3.4); R or S
// of zero is refused (CVE-2022-21449). Unlike shared/token, a high S is
// accepted: WebCrypto's ECDSA does not normalise S, so half of the proofs a
// browser signs have one, and a proof's twin signature gains an attacker
// nothing the original does not (the replay check keys on jti, not on the
// signature bytes). RSA-PSS needs a salt as long as the hash (RFC 7518 3.5).
func verifySignature(alg string, key crypto.PublicKey, signingInput, sig []byte) bool {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r, s := sig[:size], sig[size:]
		if allZero(r) || allZero(s) { // CVE-2022-21449: crypto/ecdsa refuses them too
			return false
		}
		var der [2 + 2*(3+48)]byte
		sigDER := token.AppendDERSignature(der[:0], r, s)
		if alg == "ES384" {
			d := sha512.Sum384(signingInput)
			return ecdsa.VerifyASN1(k, d[:], sigDER)
		}
		d := sha256.Sum256(signingInput)
		return ecdsa.VerifyASN1(k, d[:], sigDER)
	case ed25519.PublicKey:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k, signingInput, sig)
	case *rsa.PublicKey:
		d := sha256.Sum256(signingInput)
		if alg == "PS256" {
			return rsa.VerifyPSS(k, crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		}
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig) == nil
	}
	return false
}

func allZero(b []byte) bool { return len(bytes.TrimLeft(b, "\x00")) == 0 }
