package dpop_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/token"
)

var b64 = base64.RawURLEncoding

// testNow is the clock of every Verifier in these tests.
var testNow = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

const (
	testMethod = "POST"
	testURL    = "https://api.example.com/auth/refresh"
)

// signer is a client's proof key.
type signer struct {
	alg  string
	priv crypto.Signer
	jwk  map[string]any // the public JWK, as a client would send it
}

func newSigner(tb testing.TB, alg string) *signer {
	tb.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "EdDSA", "Ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "RS256", "PS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		tb.Fatalf("no signer for %s", alg)
	}
	if err != nil {
		tb.Fatal(err)
	}
	s := &signer{alg: alg, priv: priv}
	if k, ok := priv.Public().(ed25519.PublicKey); ok {
		s.jwk = map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64.EncodeToString(k)}
	} else {
		j, err := token.PublicJWK(priv.Public())
		if err != nil {
			tb.Fatal(err)
		}
		s.jwk = map[string]any{"kty": j.Kty}
		for name, v := range map[string]string{"crv": j.Crv, "x": j.X, "y": j.Y, "n": j.N, "e": j.E} {
			if v != "" {
				s.jwk[name] = v
			}
		}
	}
	return s
}

// header is the JOSE header of a well-formed proof of s.
func (s *signer) header() map[string]any {
	jwk := make(map[string]any, len(s.jwk))
	for k, v := range s.jwk {
		jwk[k] = v
	}
	return map[string]any{"typ": "dpop+jwt", "alg": s.alg, "jwk": jwk}
}

// claims are the claims of a well-formed proof for testMethod and testURL
// at testNow.
func claims() map[string]any {
	jti := make([]byte, 16)
	rand.Read(jti)
	return map[string]any{"jti": b64.EncodeToString(jti), "htm": testMethod, "htu": testURL, "iat": testNow.Unix()}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// S forms of an ECDSA signature.
const (
	anyS = iota
	lowS
	highS
)

// sign makes the compact JWS of header and payload (JSON texts) with s's
// key; for ECDSA, sForm picks the low or high S of the two valid ones.
func (s *signer) sign(tb testing.TB, header, payload string, sForm int) string {
	tb.Helper()
	in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	var sig []byte
	var err error
	switch k := s.priv.(type) {
	case *ecdsa.PrivateKey:
		var d []byte
		if s.alg == "ES384" {
			h := sha512.Sum384([]byte(in))
			d = h[:]
		} else {
			h := sha256.Sum256([]byte(in))
			d = h[:]
		}
		der, err := ecdsa.SignASN1(rand.Reader, k, d)
		if err != nil {
			tb.Fatal(err)
		}
		var rs struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(der, &rs); err != nil {
			tb.Fatal(err)
		}
		n := k.Curve.Params().N
		isHigh := rs.S.Cmp(new(big.Int).Rsh(n, 1)) > 0
		if sForm == lowS && isHigh || sForm == highS && !isHigh {
			rs.S.Sub(n, rs.S)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		sig = make([]byte, 2*size)
		rs.R.FillBytes(sig[:size])
		rs.S.FillBytes(sig[size:])
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(in))
	case *rsa.PrivateKey:
		h := sha256.Sum256([]byte(in))
		if s.alg == "PS256" {
			sig, err = rsa.SignPSS(rand.Reader, k, crypto.SHA256, h[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	return in + "." + b64.EncodeToString(sig)
}

// proof is a well-formed proof of s with the default claims changed by edit.
func (s *signer) proof(tb testing.TB, edit func(c map[string]any)) string {
	tb.Helper()
	c := claims()
	if edit != nil {
		edit(c)
	}
	return s.sign(tb, mustJSON(tb, s.header()), mustJSON(tb, c), anyS)
}

// ath is RFC 9449 4.2's hash of an access token.
func ath(token string) string {
	sum := sha256.Sum256([]byte(token))
	return b64.EncodeToString(sum[:])
}
