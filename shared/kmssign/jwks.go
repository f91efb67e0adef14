package kmssign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
)

// JWK is a public JSON Web Key (RFC 7517) as published in the JWKS.
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

var b64 = base64.RawURLEncoding

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
			X: b64.EncodeToString(raw[1 : 1+size]), Y: b64.EncodeToString(raw[1+size:])}, nil
	case *rsa.PublicKey:
		return JWK{Kty: "RSA", N: b64.EncodeToString(k.N.Bytes()),
			E: b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())}, nil
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
	return b64.EncodeToString(sum[:]), nil
}

// Document builds the JWKS of keys, each with kid, alg and use "sig".
func Document(keys []Key) ([]byte, error) {
	doc := JWKS{Keys: make([]JWK, 0, len(keys))}
	for _, k := range keys {
		j, err := PublicJWK(k.Key)
		if err != nil {
			return nil, err
		}
		j.Kid, j.Alg, j.Use = k.KID, k.Alg, "sig"
		doc.Keys = append(doc.Keys, j)
	}
	return json.Marshal(doc)
}
