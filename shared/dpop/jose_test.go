package dpop_test

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"encoding/json"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/dpop"
)

// TestJoseProofs verifies proofs that jose, an implementation nobody here
// wrote, signed with WebCrypto keys (testdata/jose-proofs.json, made by
// infra/interop/dpop-proofs.mjs): every algorithm verifies, the thumbprint
// is jose's, and WebCrypto's high-S ECDSA signatures are among them.
func TestJoseProofs(t *testing.T) {
	raw, err := os.ReadFile("testdata/jose-proofs.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		IAT         int64
		Method, URL string
		AccessToken string
		Proofs      []struct{ Alg, Proof, JKT string }
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(f.IAT, 0)
	v := newVerifierAt(t, at, dpop.WithAlgorithms("ES256", "ES384", "EdDSA", "Ed25519", "PS256", "RS256"))
	half := new(big.Int).Rsh(elliptic.P256().Params().N, 1)
	highS := 0
	for _, p := range f.Proofs {
		got, err := v.Verify(context.Background(), p.Proof, dpop.Request{Method: f.Method, URL: f.URL, AccessToken: f.AccessToken})
		if err != nil {
			t.Errorf("%s: %v", p.Alg, err)
			continue
		}
		if got.JKT != p.JKT || got.Algorithm != p.Alg {
			t.Errorf("%s: jkt %s alg %s, jose says %s", p.Alg, got.JKT, got.Algorithm, p.JKT)
		}
		if p.Alg == "ES256" {
			sig := fromB64(t, p.Proof[strings.LastIndexByte(p.Proof, '.')+1:])
			if new(big.Int).SetBytes(sig[32:]).Cmp(half) > 0 {
				highS++
			}
		}
		// Another request, another token: the same proof is refused.
		if _, err := v.Verify(context.Background(), p.Proof, dpop.Request{Method: "GET", URL: f.URL, AccessToken: f.AccessToken}); err == nil {
			t.Errorf("%s: accepted for GET", p.Alg)
		}
		if _, err := v.Verify(context.Background(), p.Proof, dpop.Request{Method: f.Method, URL: f.URL, AccessToken: f.AccessToken + "x"}); err == nil {
			t.Errorf("%s: accepted with another token", p.Alg)
		}
	}
	if highS == 0 {
		t.Error("no high-S signature among jose's ES256 proofs: regenerate the file")
	}
	if !bytes.Contains(raw, []byte(`"EdDSA"`)) || !bytes.Contains(raw, []byte(`"Ed25519"`)) {
		t.Error("the file lacks an EdDSA or Ed25519 proof")
	}
}

func newVerifierAt(tb testing.TB, now time.Time, opts ...dpop.Option) *dpop.Verifier {
	tb.Helper()
	v, err := dpop.NewVerifier(append([]dpop.Option{dpop.WithTimeFunc(func() time.Time { return now })}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}
