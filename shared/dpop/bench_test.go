package dpop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"fmt"
	"math/big"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/dpop"
	"github.com/authkit/lambda-auth/shared/token"
)

// The benchmarks put a proof's check next to the check it is added to: one
// bare ES256 access token through shared/token's Verifier (the authorizer's
// path for a token it has not seen), and through its Cache (a token seen
// before). RFC 9449's warm path is one of those plus BenchmarkProof. Each
// reports cpu-ns/op besides ns/op: the CPU time is what to compare on a
// machine busy with other work.
//
//	go test -run '^$' -bench . -benchmem ./shared/dpop/

const (
	benchIssuer   = "https://auth.example.com"
	benchAudience = "https://api.example.com"
)

// benchToken is an ES256 access token as the service issues it (low S,
// typ at+jwt), its verifier, and the verifier's clock.
func benchToken(b *testing.B) (string, *token.Verifier) {
	b.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	v, err := token.NewVerifier(benchIssuer, benchAudience, []token.PublicKey{{KID: "k1", Alg: "ES256", Key: &k.PublicKey}},
		token.WithTimeFunc(func() time.Time { return testNow }))
	if err != nil {
		b.Fatal(err)
	}
	h := `{"alg":"ES256","kid":"k1","typ":"at+jwt"}`
	p := fmt.Sprintf(`{"aud":"%s","client_id":"web","exp":%d,"iat":%d,"iss":"%s","jti":"t-1","scope":"read","sid":"s-1","sub":"u-1","cnf":{"jkt":"x"}}`,
		benchAudience, testNow.Add(10*time.Minute).Unix(), testNow.Unix(), benchIssuer)
	in := b64.EncodeToString([]byte(h)) + "." + b64.EncodeToString([]byte(p))
	d := sha256.Sum256([]byte(in))
	der, err := ecdsa.SignASN1(rand.Reader, k, d[:])
	if err != nil {
		b.Fatal(err)
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		b.Fatal(err)
	}
	if n := elliptic.P256().Params().N; rs.S.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		rs.S.Sub(n, rs.S)
	}
	sig := make([]byte, 64)
	rs.R.FillBytes(sig[:32])
	rs.S.FillBytes(sig[32:])
	raw := in + "." + b64.EncodeToString(sig)
	if _, err := v.Verify(raw); err != nil {
		b.Fatal(err)
	}
	return raw, v
}

// benchProof is an ES256 proof for tok, from a WebCrypto-like key, and
// the request it is checked against (ath and the bound key included).
func benchProof(b *testing.B, tok string) (string, dpop.Request) {
	s := newSigner(b, "ES256")
	p := s.proof(b, func(c map[string]any) {
		c["ath"] = ath(tok)
		c["htm"] = "GET"
		c["htu"] = "https://api.example.com/me"
	})
	return p, dpop.Request{Method: "GET", URL: "https://api.example.com/me", AccessToken: tok, BoundKey: thumb(b, s)}
}

// BenchmarkBearer is one bare ES256 access token check (shared/token's
// Verify: parse, signature, claims): the floor DPoP adds to.
func BenchmarkBearer(b *testing.B) {
	raw, v := benchToken(b)
	defer reportCPU(b)()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBearerCached is a token seen before: shared/token's Cache.
func BenchmarkBearerCached(b *testing.B) {
	raw, v := benchToken(b)
	c := token.NewCache(v, 1024)
	defer reportCPU(b)()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Verify(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProof is one ES256 proof check with an access token: every step
// of RFC 9449 4.3 but replay.
func BenchmarkProof(b *testing.B) {
	raw, _ := benchToken(b)
	p, req := benchProof(b, raw)
	v := newVerifier(b)
	defer reportCPU(b)()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), p, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProofReplay adds MemoryReplay: every proof is new (1024 of
// them, the store emptied between rounds, outside the timer).
func BenchmarkProofReplay(b *testing.B) {
	raw, _ := benchToken(b)
	const n = 1024
	proofs := make([]string, n)
	var req dpop.Request
	for i := range proofs {
		proofs[i], req = benchProof(b, raw)
	}
	mk := func() *dpop.Verifier {
		return newVerifier(b, dpop.WithReplay(dpop.NewMemoryReplay(4*n, func() time.Time { return testNow })))
	}
	v := mk()
	i := 0
	defer reportCPU(b)()
	b.ReportAllocs()
	for b.Loop() {
		if i == n {
			b.StopTimer()
			v, i = mk(), 0
			b.StartTimer()
		}
		// Each proof has its own key: the bound key is not checked here.
		r := req
		r.BoundKey = ""
		if _, err := v.Verify(context.Background(), proofs[i], r); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkBearerAndProof is the DPoP path for a token not seen before:
// the token's check, then its proof's.
func BenchmarkBearerAndProof(b *testing.B) {
	raw, tv := benchToken(b)
	p, req := benchProof(b, raw)
	v := newVerifier(b)
	defer reportCPU(b)()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tv.Verify(raw); err != nil {
			b.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), p, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBearerCachedAndProof is the DPoP path for a token seen before:
// the cache, then the proof, which is new on every request.
func BenchmarkBearerCachedAndProof(b *testing.B) {
	raw, tv := benchToken(b)
	c := token.NewCache(tv, 1024)
	p, req := benchProof(b, raw)
	v := newVerifier(b)
	defer reportCPU(b)()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Verify(raw); err != nil {
			b.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), p, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNonceCheck is CheckNonce on a warm step.
func BenchmarkNonceCheck(b *testing.B) {
	ns, err := dpop.NewNonces([]byte(strings.Repeat("k", 32)), time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	n := ns.NewNonce(testNow)
	b.ReportAllocs()
	for b.Loop() {
		if !ns.CheckNonce(n, testNow) {
			b.Fatal("refused")
		}
	}
}

// BenchmarkMemoryReplay records a new proof per operation and reports the
// heap each live entry holds (bytes/entry), the basis of MemoryReplay's
// memory bound.
func BenchmarkMemoryReplay(b *testing.B) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := dpop.NewMemoryReplay(1<<30, nil)
	until := time.Now().Add(time.Hour)
	ctx := context.Background()
	jtis := make([]string, 0, 1024)
	for i := range 1024 {
		jtis = append(jtis, fmt.Sprint("jti-", i))
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if seen, err := r.Seen(ctx, jtis[i%1024], fmt.Sprint(i), until); seen || err != nil {
			b.Fatal(seen, err)
		}
		i++
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := r.Len(); n >= 10000 {
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "bytes/entry")
	}
	runtime.KeepAlive(r)
}
