package token_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authkit/lambda-auth/shared/token"
)

// BenchmarkVerify is the authorizer's CPU work on a valid ES256 token
// (parse, checks, signature, claims), next to the floor it cannot beat: the
// bare signature check over the same signing input (BenchmarkECDSAFloor)
// and golang-jwt's plain Parse of the same token (BenchmarkGolangJWTParse).
//
//	go test -bench . -benchmem ./shared/token/
func BenchmarkVerify(b *testing.B) {
	s, v := setup(b)
	raw, err := issueBench(s)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkECDSAFloor(b *testing.B) {
	s, _ := setup(b)
	raw, _ := issueBench(s)
	dot := strings.LastIndexByte(raw, '.')
	sig, _ := enc.DecodeString(raw[dot+1:])
	r, sv := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	b.ReportAllocs()
	for b.Loop() {
		d := sha256.Sum256([]byte(raw[:dot]))
		if !ecdsa.Verify(&s.ec.PublicKey, d[:], r, sv) {
			b.Fatal("bad signature")
		}
	}
}

func BenchmarkGolangJWTParse(b *testing.B) {
	s, _ := setup(b)
	raw, _ := issueBench(s)
	key := &s.ec.PublicKey
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return key, nil },
			jwt.WithTimeFunc(func() time.Time { return now })); err != nil {
			b.Fatal(err)
		}
	}
}

func issueBench(s *localSigner) (string, error) {
	return token.Issue(context.Background(), s, claims())
}
