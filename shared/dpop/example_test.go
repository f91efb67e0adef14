package dpop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/authkit/lambda-auth/shared/dpop"
)

// A resource server checks the proof sent with a DPoP-bound access token:
// the request's method and public URL, the token (its hash is the proof's
// ath), and the key the token is bound to (its cnf.jkt).
func ExampleVerifier_Verify() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // the client's; never sent
	accessToken := "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"
	proof, jkt := clientProof(key, "GET", "https://api.example.com/me", accessToken, time.Now())

	v, err := dpop.NewVerifier(dpop.WithReplay(dpop.NewMemoryReplay(100_000, nil)))
	if err != nil {
		panic(err)
	}
	req := dpop.Request{
		Method:      "GET",
		URL:         "https://api.example.com/me?page=2", // the query is ignored
		AccessToken: accessToken,
		BoundKey:    jkt, // the token's cnf.jkt
	}
	p, err := v.Verify(context.Background(), proof, req)
	fmt.Println(err, p.JKT == jkt)

	_, err = v.Verify(context.Background(), proof, req) // the same proof again
	fmt.Println(errors.Is(err, dpop.ErrReplay), errors.Is(err, dpop.ErrInvalidProof))
	// Output:
	// <nil> true
	// true true
}

// clientProof is what a client does (RFC 9449 4.2): a JWT of typ dpop+jwt
// with its public key in the header, signed with the private one. It
// returns the proof and the key's thumbprint.
func clientProof(key *ecdsa.PrivateKey, method, url, accessToken string, now time.Time) (string, string) {
	pt, _ := key.PublicKey.Bytes() // 0x04 || X || Y
	jwk := dpop.JWK{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(pt[1:33]), Y: b64.EncodeToString(pt[33:])}
	header, _ := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "ES256",
		"jwk": map[string]string{"kty": jwk.Kty, "crv": jwk.Crv, "x": jwk.X, "y": jwk.Y}})
	jti := make([]byte, 16)
	rand.Read(jti)
	hash := sha256.Sum256([]byte(accessToken))
	claims, _ := json.Marshal(map[string]any{"jti": b64.EncodeToString(jti), "htm": method, "htu": url,
		"iat": now.Unix(), "ath": b64.EncodeToString(hash[:])})
	in := b64.EncodeToString(header) + "." + b64.EncodeToString(claims)
	d := sha256.Sum256([]byte(in))
	r, s, _ := ecdsa.Sign(rand.Reader, key, d[:])
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	jkt, _ := dpop.Thumbprint(jwk)
	return in + "." + b64.EncodeToString(sig), jkt
}
