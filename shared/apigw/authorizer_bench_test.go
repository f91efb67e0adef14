package apigw_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/metrics"
	"github.com/authkit/lambda-auth/shared/replica"
	"github.com/authkit/lambda-auth/shared/token"
)

// The authorizer's warm path, whole: a payload 2.0 authorizer event in, the
// simple response out (event decode, bearer parsing, token checks and
// signature, claims, the revocation lookup, the identity context), with the
// revocation store answered in process. Next to it, in the same run, the
// floor it cannot beat: the bare signature check of the same token with the
// standard library (ecdsa.VerifyASN1 over SHA-256 of the signing input, or
// rsa.VerifyPKCS1v15), and golang-jwt's plain Parse of the same token.
//
//	go test -run '^$' -bench . -benchmem ./shared/apigw/

var benchNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// memRevocations stands for the revocation table: it answers at once with
// no entries, as DynamoDB does for a token nobody revoked.
type memRevocations struct{}

func (memRevocations) PutRevocation(context.Context, auth.Revocation) error { return nil }
func (memRevocations) Revocations(context.Context, string, string, string) ([]auth.Revocation, error) {
	return nil, nil
}
func (memRevocations) Window() time.Duration { return auth.NoWindowLimit }

type benchKey struct {
	alg  string
	priv crypto.Signer
	pub  crypto.PublicKey
}

func newBenchKey(b testing.TB, alg string) benchKey {
	b.Helper()
	switch alg {
	case "ES256":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		return benchKey{alg, k, &k.PublicKey}
	case "RS256":
		// A fixed key: generating one takes a minute under callgrind,
		// which scripts/bench runs these benchmarks under.
		block, _ := pem.Decode([]byte(strings.ReplaceAll(benchRSAKey, "TESTING KEY", "PRIVATE KEY")))
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			b.Fatal(err)
		}
		k := key.(*rsa.PrivateKey)
		return benchKey{alg, k, &k.PublicKey}
	}
	b.Fatalf("alg %s", alg)
	return benchKey{}
}

func (k benchKey) KeyID() string     { return "bench-" + k.alg }
func (k benchKey) Algorithm() string { return k.alg }

// Sign signs as the KMS signer does: PKCS #1 v1.5, or R||S with low S.
func (k benchKey) Sign(_ context.Context, in []byte) ([]byte, error) {
	d := sha256.Sum256(in)
	if k.alg == "RS256" {
		return k.priv.Sign(rand.Reader, d[:], crypto.SHA256)
	}
	ec := k.priv.(*ecdsa.PrivateKey)
	r, s, err := ecdsa.Sign(rand.Reader, ec, d[:])
	if err != nil {
		return nil, err
	}
	n := ec.Curve.Params().N
	if s.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		s.Sub(n, s)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, nil
}

// issueToken is an access token as login issues it, a minute old at now
// in a session an hour old, bound to jkt (cnf.jkt, RFC 9449 6.1) when not
// "".
func issueToken(t testing.TB, k benchKey, jkt string, now time.Time) string {
	t.Helper()
	sid := make([]byte, 24)
	binary.BigEndian.PutUint64(sid, uint64(now.Add(-time.Hour).UnixMilli()))
	rand.Read(sid[8:])
	c := &token.Claims{SessionID: base64.RawURLEncoding.EncodeToString(sid), ClientID: "web", Scope: "read write"}
	c.Issuer, c.Subject, c.ID = "https://auth.example.com", "usr_4a6f2c1e9b0d7a3f5c2e8d1b", base64.RawURLEncoding.EncodeToString(sid[8:])
	c.Audience = []string{"https://api.example.com"}
	c.IssuedAt = token.NumericDate(now.Add(-time.Minute))
	c.ExpiresAt = token.NumericDate(now.Add(14 * time.Minute))
	if jkt != "" {
		c.Confirmation = &token.Confirmation{JKT: jkt}
	}
	raw, err := token.Issue(context.Background(), k, c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func benchAuthorizer(b *testing.B, k benchKey) apigw.AuthorizerHandler {
	b.Helper()
	v, err := token.NewVerifier("https://auth.example.com", "https://api.example.com",
		[]token.PublicKey{{KID: k.KeyID(), Alg: k.alg, Key: k.pub}},
		token.WithLeeway(10*time.Second), token.WithTimeFunc(func() time.Time { return benchNow }))
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	svc := auth.NewAuthorizer(v, memRevocations{}, 800*time.Millisecond,
		auth.Options{Now: func() time.Time { return benchNow }, Logger: log})
	// Metrics as the function writes them (gathered decisions), to nowhere.
	return apigw.Authorizer(svc, log, metrics.New(io.Discard, "authorizer"))
}

func benchAuthorizerPath(b *testing.B, alg string) {
	k := newBenchKey(b, alg)
	raw := issueToken(b, k, "", benchNow)
	h := benchAuthorizer(b, k)
	ev := testenv.Event(b, "authorizer", "REPLACE_WITH_ACCESS_TOKEN", raw)
	ctx := context.Background()
	out, err := h.Invoke(ctx, ev)
	if err != nil || !bytes.HasPrefix(out, []byte(`{"isAuthorized":true,`)) {
		b.Fatalf("warm-up: %s %v", out, err)
	}
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		invokeOnce(b, h, ctx, ev)
	}
	cpu.report(b)
}

// invokeOnce is one authorization; the scripts count its instructions.
//
//go:noinline
func invokeOnce(b *testing.B, h apigw.AuthorizerHandler, ctx context.Context, ev []byte) {
	if _, err := h.Invoke(ctx, ev); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkAuthorizerES256(b *testing.B) { benchAuthorizerPath(b, "ES256") }
func BenchmarkAuthorizerRS256(b *testing.B) { benchAuthorizerPath(b, "RS256") }

// The authorizer as deployed in replica mode (the default): the verified
// token cache in front of the verifier, and revocations from a replica of
// the feed whose view is fresh (no read on the request path).
func benchReplicaAuthorizer(b *testing.B, k benchKey, cacheSize int) apigw.AuthorizerHandler {
	b.Helper()
	v, err := token.NewVerifier("https://auth.example.com", "https://api.example.com",
		[]token.PublicKey{{KID: k.KeyID(), Alg: k.alg, Key: k.pub}},
		token.WithLeeway(10*time.Second), token.WithTimeFunc(func() time.Time { return benchNow }),
		token.WithMaxLifetime(15*time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	rep := replica.New(emptyFeed{}, replica.Options{SyncInterval: time.Second, MaxStaleness: 5 * time.Minute,
		Window: 15*time.Minute + 10*time.Second, Now: func() time.Time { return benchNow }, Logger: log})
	if err := rep.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	svc := auth.NewAuthorizer(token.NewCache(v, cacheSize), rep, 0, // the replica bounds its own reads
		auth.Options{Now: func() time.Time { return benchNow }, Logger: log})
	// Metrics as the function writes them (gathered decisions), to nowhere.
	return apigw.Authorizer(svc, log, metrics.New(io.Discard, "authorizer"))
}

// emptyFeed is a revocation feed with nothing revoked.
type emptyFeed struct{}

func (emptyFeed) RevocationsSince(context.Context, time.Time, time.Time) (replica.Batch, error) {
	return replica.Batch{StoreTime: time.Now().Truncate(time.Second)}, nil
}

func (emptyFeed) Snapshot(context.Context) (replica.Snapshot, error) { return replica.Snapshot{}, nil }

// BenchmarkAuthorizerCachedES256: a token the authorizer has verified
// before (the common case: a client calls many times per token lifetime):
// SHA-256 of the token, the cached claims, their time checks, the
// replica's three map lookups.
func BenchmarkAuthorizerCachedES256(b *testing.B) {
	k := newBenchKey(b, "ES256")
	h := benchReplicaAuthorizer(b, k, token.DefaultCacheSize)
	ev := testenv.Event(b, "authorizer", "REPLACE_WITH_ACCESS_TOKEN", issueToken(b, k, "", benchNow))
	ctx := context.Background()
	if out, err := h.Invoke(ctx, ev); err != nil || !bytes.HasPrefix(out, []byte(`{"isAuthorized":true,`)) {
		b.Fatalf("warm-up: %s %v", out, err)
	}
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		invokeOnce(b, h, ctx, ev)
	}
	cpu.report(b)
}

// BenchmarkAuthorizerNewTokenES256: a token the authorizer has not seen:
// the whole check plus the cache's work (two tokens taking turns in a
// one-entry cache, so every call misses and evicts).
func BenchmarkAuthorizerNewTokenES256(b *testing.B) {
	k := newBenchKey(b, "ES256")
	h := benchReplicaAuthorizer(b, k, 1)
	evs := [2][]byte{
		testenv.Event(b, "authorizer", "REPLACE_WITH_ACCESS_TOKEN", issueToken(b, k, "", benchNow)),
		testenv.Event(b, "authorizer", "REPLACE_WITH_ACCESS_TOKEN", issueToken(b, k, "", benchNow)),
	}
	ctx := context.Background()
	for _, ev := range evs {
		if out, err := h.Invoke(ctx, ev); err != nil || !bytes.HasPrefix(out, []byte(`{"isAuthorized":true,`)) {
			b.Fatalf("warm-up: %s %v", out, err)
		}
	}
	b.ReportAllocs()
	cpu := startCPU()
	i := 0
	for b.Loop() {
		invokeOnce(b, h, ctx, evs[i&1])
		i++
	}
	cpu.report(b)
}

// BenchmarkFloorES256 is the bare primitive: SHA-256 of the signing input
// and ecdsa.VerifyASN1 of the same signature in DER form.
func BenchmarkFloorES256(b *testing.B) {
	k := newBenchKey(b, "ES256")
	raw := issueToken(b, k, "", benchNow)
	dot := strings.LastIndexByte(raw, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(raw[dot+1:])
	der := derSignature(sig)
	pub := k.pub.(*ecdsa.PublicKey)
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		floorES256Once(b, pub, raw[:dot], der)
	}
	cpu.report(b)
}

//go:noinline
func floorES256Once(b *testing.B, pub *ecdsa.PublicKey, signingInput string, der []byte) {
	d := sha256.Sum256([]byte(signingInput))
	if !ecdsa.VerifyASN1(pub, d[:], der) {
		b.Fatal("bad signature")
	}
}

// BenchmarkFloorRS256 is rsa.VerifyPKCS1v15 over SHA-256 of the signing input.
func BenchmarkFloorRS256(b *testing.B) {
	k := newBenchKey(b, "RS256")
	raw := issueToken(b, k, "", benchNow)
	dot := strings.LastIndexByte(raw, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(raw[dot+1:])
	pub := k.pub.(*rsa.PublicKey)
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		floorRS256Once(b, pub, raw[:dot], sig)
	}
	cpu.report(b)
}

//go:noinline
func floorRS256Once(b *testing.B, pub *rsa.PublicKey, signingInput string, sig []byte) {
	d := sha256.Sum256([]byte(signingInput))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig); err != nil {
		b.Fatal(err)
	}
}

func benchGolangJWT(b *testing.B, alg string) {
	k := newBenchKey(b, alg)
	raw := issueToken(b, k, "", benchNow)
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		golangJWTOnce(b, raw, k.pub)
	}
	cpu.report(b)
}

//go:noinline
func golangJWTOnce(b *testing.B, raw string, pub crypto.PublicKey) {
	if _, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithTimeFunc(func() time.Time { return benchNow })); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkGolangJWTParseES256 is golang-jwt's plain Parse of the same token
// (signature and its default claim checks only): the allocation yardstick.
func BenchmarkGolangJWTParseES256(b *testing.B) { benchGolangJWT(b, "ES256") }
func BenchmarkGolangJWTParseRS256(b *testing.B) { benchGolangJWT(b, "RS256") }

// derSignature converts a JWS R||S signature to ASN.1 DER.
func derSignature(sig []byte) []byte {
	var r, s big.Int
	r.SetBytes(sig[:len(sig)/2])
	s.SetBytes(sig[len(sig)/2:])
	der, err := asn1Marshal(&r, &s)
	if err != nil {
		panic(err)
	}
	return der
}

func asn1Marshal(r, s *big.Int) ([]byte, error) {
	return asn1.Marshal(struct{ R, S *big.Int }{r, s})
}

// cpuClock measures the CPU time (user and system, every thread) the
// process spends in a benchmark loop: on a shared machine it is less
// inflated by other processes than the wall time in ns/op.
type cpuClock struct{ start time.Duration }

func startCPU() cpuClock { return cpuClock{processCPU()} }

func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64(processCPU()-c.start)/float64(b.N), "cpu-ns/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchRSAKey is a 2048-bit RSA key for benchmarks only, generated for
// them and used nowhere else ("TESTING KEY" so that no scanner takes it for
// a leaked secret).
const benchRSAKey = `-----BEGIN TESTING KEY-----
MIIEuwIBADANBgkqhkiG9w0BAQEFAASCBKUwggShAgEAAoIBAQDHZZ7u1u8P3E/h
EyZa29VhK9knAjUJr92ZHqdhQ65+2sCYDoYQXQ1UVWSyUdpMgdJbHWE7I5rWNaAI
EaghEVR+izKoAo2RIjjprKKDVo7y/0nl7Pv5HsDpjJLSmIkqmxCf9qBvVcpvIZJH
GR7zgQ07kvhUtlpP4pH1fVnerQOY3bvPj+mfQW9M2+RudMysEV37qg18xQNYQsor
gDEso6D8zWEfW2ebIs123jRFUc5+o4WtoB9WW9JRk1v0A9AfiC9v9mAqfuJ3XoJa
5P6ACILo/RF6jwaR1gXMPrkwgfu1J9N+0+2cBhRyAZtKkQdmVkMkcuZwrw3CCMdK
T/q3gfHZAgMBAAECggEAVk6PJ5RS78uNq7+NN4C18JR5LuBOsr2zrkZNbtVL306y
VF7c+pI8Zcd8iY7SbZE3ywaBgoaby6J0fWmfG4kTyJ5Zs80/F5X3inWV9kFuKJIF
m4cjXaZJHA4jsxIhNRbfcE3hDa/VqpqeZTXjZsTyRFoOMSSpHLDWOqsiTjcXOn/j
Om6ebsk23FpyP7yEb8eFKg8lOnQWXATiK95vBE4nqAuEJ6xaDen8P7yE8/vJPKOy
aHhYNspOVaD49QilImFI7A4sSgkoQiBC0fEXSBpOI1a/CTYDbpwELKJ/Q3gCqoWY
kama71NpMEhJXUa9GJOQxSt+QBsx0x2qScwynHPbXQKBgQD1hPNZ2tTNZwQgd1/I
DGkodkF2e/gY9oTT391F23qqpav3R1nc6jxkW6voGh/620Mu8Uc18DzVmiVqx4Sh
9WkSZ91NRfq57H3ZRDpzEuvHPLQ+XFudH5S6k00txLIfi37/q4HiowC82ncssysV
5NKKinmMC/Fvi8BpxKudnpVW4wKBgQDP6KRnuLtP0sDK4qcPpiVoTmIJEXvpplzY
0s0MA/G5JJdjzfvy8MHuiXqT//E1c6C/KqOJ6vCixzqNBzFcJP3md0w/wHxy4BU4
V75AlW3A5sPFpQlXsskkhOpTbIpcToywIYadV8aW9MvfUj3zwAyA3jvHd9Up6yqw
WrnPtmq1EwKBgGYgiI1+7ngGevv6S/hN2UxAbJiZlqjjmnr7qvJNCqiDQ5YXsvSm
5rokO8zPWTAjFr4nFSUFqnh7p0bUeYJZL/y9AZwMGPBPxEWlEN8fJr54rM0n49/m
7Bnz/e2k3ScsAobdU6jvfvYPtfT9DlYMGdwRH+A2c5afvkkAyxZEigBbAn8SrdQX
fYFWqpinobVgsoyp0mD8b5WyaD/vOwExEymkeKUhUmBQc1D5HWDl6xjAtKK8ihgn
S/RSq5OXGA5XOPuWuSEgmSqVJ4zAgyGUq9gwfIsaNrmgJ2/q2AY1eIr1wBjjuh9e
A4TUCypF5h2qyJZW/aBhS2LbYUV0krIe90SfAoGBAIsMTf6bbFhdMDruA3b6ECmX
PYOEFbpSRi1sxprXgrvsfpMs/hqQK52p6HTFs4+rdwxkoHNrb5S+jPoxSKfF3Yjx
V0o37/7N9MV9zAVMPW7cFpp7dLE49Pj9Jo0XUs6WKs2LwNLOOsO04NCPRsVXWMhu
JC5JXzB4ggN1vxVwqGvq
-----END TESTING KEY-----
`
