// Package dpopclient is the client side of DPoP (RFC 9449 4.2) for tests,
// benchmarks and experiments: an ECDSA P-256 key and the proofs signed
// with it, as a browser (WebCrypto) or oauth4webapi makes them. It never
// ships in a function.
package dpopclient

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/authkit/lambda-auth/shared/dpop"
)

var b64 = base64.RawURLEncoding

// Key is a client's proof key.
type Key struct {
	priv *ecdsa.PrivateKey
	jwk  dpop.JWK
	jkt  string
}

// NewKey generates a P-256 key.
func NewKey() (*Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate dpop key: %w", err)
	}
	pt, err := priv.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, fmt.Errorf("encode dpop key: %w", err)
	}
	k := &Key{priv: priv, jwk: dpop.JWK{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(pt[1:33]), Y: b64.EncodeToString(pt[33:])}}
	if k.jkt, err = dpop.Thumbprint(k.jwk); err != nil {
		return nil, fmt.Errorf("dpop key thumbprint: %w", err)
	}
	return k, nil
}

// JKT is the key's RFC 7638 thumbprint: a bound token's cnf.jkt.
func (k *Key) JKT() string { return k.jkt }

// Claims are a proof's claims; a zero field is left out.
type Claims struct {
	JTI, HTM, HTU, ATH, Nonce string
	IAT                       time.Time
}

// NewClaims are the claims of a proof for one request: a random jti, the
// method and URL, iat, and ath when accessToken is not empty.
func NewClaims(method, url, accessToken string, iat time.Time) Claims {
	jti := make([]byte, 16)
	rand.Read(jti)
	c := Claims{JTI: b64.EncodeToString(jti), HTM: method, HTU: url, IAT: iat}
	if accessToken != "" {
		c.ATH = ATH(accessToken)
	}
	return c
}

// ATH is the ath of a proof sent with accessToken (RFC 9449 4.2).
func ATH(accessToken string) string {
	h := sha256.Sum256([]byte(accessToken))
	return b64.EncodeToString(h[:])
}

// Proof signs a proof for one request (NewClaims).
func (k *Key) Proof(method, url, accessToken string, iat time.Time) string {
	return k.Sign(NewClaims(method, url, accessToken, iat))
}

// Sign signs a proof of c with typ dpop+jwt, alg ES256 and the public key
// in jwk.
func (k *Key) Sign(c Claims) string { return k.SignEdited(c, nil) }

// SignEdited signs a proof of c as Sign does, after edit, when not nil,
// changed its header and claims (JSON objects as maps, the jwk member a
// map[string]any): a test's broken proof, a claim left out or of another
// type, another typ, alg or jwk.
func (k *Key) SignEdited(c Claims, edit func(header, claims map[string]any)) string {
	h := map[string]any{"typ": dpop.Type, "alg": "ES256", "jwk": k.JWK()}
	m := map[string]any{}
	for name, v := range map[string]string{"jti": c.JTI, "htm": c.HTM, "htu": c.HTU, "ath": c.ATH, "nonce": c.Nonce} {
		if v != "" {
			m[name] = v
		}
	}
	if !c.IAT.IsZero() {
		m["iat"] = c.IAT.Unix()
	}
	if edit != nil {
		edit(h, m)
	}
	header, _ := json.Marshal(h)
	claims, _ := json.Marshal(m)
	in := b64.EncodeToString(header) + "." + b64.EncodeToString(claims)
	d := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, d[:])
	if err != nil {
		panic(fmt.Sprintf("dpop proof: sign: %v", err)) // crypto/rand does not fail
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return in + "." + b64.EncodeToString(sig)
}

// JWK is the public key as a proof's jwk header carries it (kty, crv, x,
// y), a new map each call.
func (k *Key) JWK() map[string]any {
	return map[string]any{"kty": k.jwk.Kty, "crv": k.jwk.Crv, "x": k.jwk.X, "y": k.jwk.Y}
}

// PrivateJWK is JWK with the private key in d (RFC 7518 6.2.2.1): what a
// proof must never carry (RFC 9449 4.3 step 7), for tests of that check.
func (k *Key) PrivateJWK() map[string]any {
	j := k.JWK()
	d, _ := k.priv.Bytes() // a P-256 key always encodes
	j["d"] = b64.EncodeToString(d)
	return j
}
