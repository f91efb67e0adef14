package kmssign_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/kmssign"
	"github.com/authkit/lambda-auth/shared/token"
)

// TestSignWithLocalKMS signs tokens with real local KMS keys of each
// supported spec and verifies them with the public key from GetPublicKey.
func TestSignWithLocalKMS(t *testing.T) {
	client := kms.NewFromConfig(testenv.AWSConfig(t))
	cases := []struct {
		spec    kmstypes.KeySpec
		rsaAlg  string
		wantAlg string
		sigLen  int
	}{
		{kmstypes.KeySpecEccNistP256, "RS256", "ES256", 64},
		{kmstypes.KeySpecEccNistP384, "RS256", "ES384", 96},
		{kmstypes.KeySpecEccNistP521, "RS256", "ES512", 132},
		{kmstypes.KeySpecRsa2048, "RS256", "RS256", 256},
		{kmstypes.KeySpecRsa2048, "PS256", "PS256", 256},
	}
	for _, tc := range cases {
		t.Run(string(tc.spec)+"/"+tc.wantAlg, func(t *testing.T) {
			ctx := context.Background()
			keyID := testenv.CreateKey(t, client, tc.spec)
			s, err := kmssign.New(ctx, client, keyID, tc.rsaAlg)
			if err != nil {
				t.Fatal(err)
			}
			if s.Algorithm() != tc.wantAlg {
				t.Fatalf("alg %s, want %s", s.Algorithm(), tc.wantAlg)
			}
			sig, err := s.Sign(ctx, []byte("header.payload"))
			if err != nil {
				t.Fatal(err)
			}
			if len(sig) != tc.sigLen {
				t.Errorf("signature is %d bytes, want %d (JWS form)", len(sig), tc.sigLen)
			}
			c := &token.Claims{SessionID: "s", ClientID: "c"}
			c.Issuer, c.Subject, c.ID, c.Audience = "i", "u", "j", []string{"a"}
			c.IssuedAt, c.ExpiresAt = token.NumericDate(time.Now()), token.NumericDate(time.Now().Add(time.Minute))
			raw, err := token.Issue(ctx, s, c)
			if err != nil {
				t.Fatal(err)
			}
			key, err := kmssign.LoadKey(ctx, client, s.Key().ARN, tc.rsaAlg)
			if err != nil || key.KID != s.KeyID() {
				t.Fatalf("LoadKey by ARN: %v, kid %s want %s", err, key.KID, s.KeyID())
			}
			v, err := token.NewVerifier("i", "a", []token.PublicKey{key.PublicKey})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(raw)
			if tc.wantAlg == "PS256" {
				// local-kms signs RSASSA-PSS with the largest salt; AWS KMS
				// and RFC 7518 3.5 use a salt as long as the hash, which is
				// all the verifier accepts (token.TestPS256SaltLength). So
				// the signature is checked as PSS here, and refused there.
				d := sha256.Sum256([]byte("header.payload"))
				if perr := rsa.VerifyPSS(key.Key.(*rsa.PublicKey), crypto.SHA256, d[:], sig, nil); perr != nil {
					t.Fatalf("local-kms PS256 signature is not RSASSA-PSS: %v", perr)
				}
				if !errors.Is(err, token.ErrSignature) {
					t.Fatalf("a local-kms PS256 token (largest salt): %v, want the strict verifier to refuse it", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("token signed by KMS does not verify: %v", err)
			}
			if kid, _ := token.Thumbprint(key.Key); kid != s.KeyID() {
				t.Errorf("kid %s is not the RFC 7638 thumbprint %s", s.KeyID(), kid)
			}
		})
	}
}

func TestLoadKeyRefuses(t *testing.T) {
	client := kms.NewFromConfig(testenv.AWSConfig(t))
	ctx := context.Background()
	out, err := client.CreateKey(ctx, &kms.CreateKeyInput{KeyUsage: kmstypes.KeyUsageTypeEncryptDecrypt})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kmssign.New(ctx, client, *out.KeyMetadata.Arn, "RS256"); err == nil {
		t.Error("a symmetric ENCRYPT_DECRYPT key was accepted for signing")
	}
	if _, err := kmssign.New(ctx, client, "alias/does-not-exist", "RS256"); err == nil {
		t.Error("a missing key was accepted")
	}
}

func TestDERToJWS(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	n := elliptic.P256().Params().N
	half := new(big.Int).Rsh(n, 1)
	highSeen := false
	for range 64 { // small r or s must be left-padded; high s normalized
		digest := make([]byte, 32)
		der, _ := ecdsa.SignASN1(rand.Reader, k, digest)
		jws, err := kmssign.DERToJWS(der, elliptic.P256())
		if err != nil {
			t.Fatal(err)
		}
		var rs struct{ R, S *big.Int }
		asn1.Unmarshal(der, &rs)
		gotS := new(big.Int).SetBytes(jws[32:])
		wantS := rs.S
		if rs.S.Cmp(half) > 0 {
			highSeen = true
			wantS = new(big.Int).Sub(n, rs.S)
		}
		if new(big.Int).SetBytes(jws[:32]).Cmp(rs.R) != 0 || gotS.Cmp(wantS) != 0 || gotS.Cmp(half) > 0 {
			t.Fatal("R||S does not match the DER integers with low S")
		}
		if !ecdsa.Verify(&k.PublicKey, digest, rs.R, gotS) {
			t.Fatal("normalized signature does not verify")
		}
	}
	if !highSeen {
		t.Error("no high-S signature in 64 tries: the normalization went untested")
	}
	for name, der := range map[string][]byte{
		"empty":    nil,
		"trailing": append(mustDER(t, 1, 1), 0),
		"r zero":   mustDER(t, 0, 1),
		"too big":  mustDER(t, 1, 0).setBig(),
	} {
		if _, err := kmssign.DERToJWS(der, elliptic.P256()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

type derBytes []byte

func (derBytes) setBig() []byte {
	big257 := new(big.Int).Lsh(big.NewInt(1), 260)
	b, _ := asn1.Marshal(struct{ R, S *big.Int }{big257, big.NewInt(1)})
	return b
}

func mustDER(t *testing.T, r, s int64) derBytes {
	b, err := asn1.Marshal(struct{ R, S *big.Int }{big.NewInt(r), big.NewInt(s)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestJWKSDocument(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kid, _ := token.Thumbprint(&k.PublicKey)
	doc, err := kmssign.Document([]kmssign.Key{{PublicKey: token.PublicKey{KID: kid, Alg: "ES256", Key: &k.PublicKey}}})
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	json.Unmarshal(doc, &set)
	j := set.Keys[0]
	if j["kty"] != "EC" || j["crv"] != "P-256" || j["kid"] != kid || j["alg"] != "ES256" || j["use"] != "sig" || len(j["x"]) != 43 || len(j["y"]) != 43 {
		t.Errorf("JWK %v", j)
	}
	if _, private := j["d"]; private {
		t.Error("private key material in the JWKS")
	}
}

// TestDeriveKey: a secret derived in KMS is 32 bytes, the same for the same
// key and label (every container agrees), different for another label or
// key; a key that cannot MAC is an error.
func TestDeriveKey(t *testing.T) {
	ctx := context.Background()
	client := kms.NewFromConfig(testenv.AWSConfig(t))
	k1, k2 := testenv.CreateMACKey(t, client), testenv.CreateMACKey(t, client)
	a, err := kmssign.DeriveKey(ctx, client, k1, "label")
	if err != nil || len(a) != 32 {
		t.Fatalf("DeriveKey: %d bytes, %v", len(a), err)
	}
	again, _ := kmssign.DeriveKey(ctx, client, k1, "label")
	other, _ := kmssign.DeriveKey(ctx, client, k1, "another label")
	otherKey, _ := kmssign.DeriveKey(ctx, client, k2, "label")
	if !bytes.Equal(a, again) || bytes.Equal(a, other) || bytes.Equal(a, otherKey) {
		t.Fatal("derived secrets are not a function of key and label")
	}
	if _, err := kmssign.DeriveKey(ctx, client, testenv.CreateKey(t, client, kmstypes.KeySpecEccNistP256), "label"); err == nil {
		t.Fatal("a signing key derived a secret")
	}
}
