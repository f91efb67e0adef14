package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/big"
)

// JWK is a public JSON Web Key (RFC 7517) as published in a JWKS: the
// KMS signer publishes them (kmssign.Document), shared/guard reads them.
type JWK struct {
	Kty string `json:"kty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	Kid string `json:"kid,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// JWKS is a JSON Web Key Set document.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// PublicJWK returns the public JWK of pub with only its required members
// (RFC 7638 section 3.2), coordinates padded to the curve size (RFC 7518
// 6.2.1.2).
func PublicJWK(pub crypto.PublicKey) (JWK, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		raw, err := k.Bytes() // uncompressed point 0x04 || X || Y
		if err != nil {
			return JWK{}, fmt.Errorf("jwk: %w", err)
		}
		return JWK{Kty: "EC", Crv: k.Curve.Params().Name,
			X: base64.RawURLEncoding.EncodeToString(raw[1 : 1+size]), Y: base64.RawURLEncoding.EncodeToString(raw[1+size:])}, nil
	case *rsa.PublicKey:
		return JWK{Kty: "RSA", N: base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())}, nil
	}
	return JWK{}, fmt.Errorf("jwk: unsupported key type %T", pub)
}

// Thumbprint is the RFC 7638 JWK thumbprint of pub: SHA-256 over the JSON
// of the required members in lexicographic order with no whitespace
// (section 3.3), base64url without padding.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	j, err := PublicJWK(pub)
	if err != nil {
		return "", err
	}
	var canonical []byte
	switch j.Kty {
	case "EC": // members crv, kty, x, y (RFC 7638 3.2)
		canonical = fmt.Appendf(nil, `{"crv":%q,"kty":"EC","x":%q,"y":%q}`, j.Crv, j.X, j.Y)
	case "RSA": // members e, kty, n
		canonical = fmt.Appendf(nil, `{"e":%q,"kty":"RSA","n":%q}`, j.E, j.N)
	}
	sum := sha256.Sum256(canonical)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}
