package token_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/token"
)

// TestPS256SaltLength: a PS256 signature must use a salt as long as the
// hash, 32 bytes (RFC 7518 3.5), as AWS KMS does; the same token signed
// with any other salt length is refused, whatever golang-jwt would accept.
func TestPS256SaltLength(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	v, err := token.NewVerifier("https://iss.example", "https://aud.example",
		[]token.PublicKey{{KID: "kid-ps", Alg: "PS256", Key: &key.PublicKey}},
		token.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	in := enc.EncodeToString([]byte(`{"alg":"PS256","kid":"kid-ps","typ":"at+jwt"}`)) + "." + enc.EncodeToString([]byte(goodPayload(nil)))
	d := sha256.Sum256([]byte(in))
	for _, tc := range []struct {
		name string
		salt int
		ok   bool
	}{
		{"salt as long as the hash (RFC 7518 3.5, AWS KMS)", rsa.PSSSaltLengthEqualsHash, true},
		{"largest salt (local-kms)", rsa.PSSSaltLengthAuto, false},
		{"no salt", 0, false},
		{"a 20-byte salt", 20, false},
		{"a 64-byte salt", 64, false},
	} {
		sig, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: tc.salt})
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(in + "." + enc.EncodeToString(sig))
		if ok := err == nil; ok != tc.ok {
			t.Errorf("%s: verify error %v, want accepted=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, token.ErrSignature) {
			t.Errorf("%s: %v, want a signature error", tc.name, err)
		}
	}
}
