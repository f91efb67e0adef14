package apigw_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/dpopclient"
	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dpop"
	"github.com/authkit/lambda-auth/shared/metrics"
	"github.com/authkit/lambda-auth/shared/replica"
	"github.com/authkit/lambda-auth/shared/token"
)

// The authorizer's warm path with DPoP (RFC 9449 7.1): the same handler as
// BenchmarkAuthorizerCachedES256 (replica mode, verified token cache) with
// the DPoP check on, a per-process replay record in front (no shared
// store: its cost is DynamoDB's, measured by scripts/benchmark's DPoP
// section). Each operation is a request with a new proof, made before
// the timer starts; next to them, in the same run, the proof check alone
// and BenchmarkFloorES256.
//
//	go test -run '^$' -bench 'DPoP|FloorES256' -benchmem ./shared/apigw/

// dpopURLBench is the public URL of events/authorizer.json's request.
const dpopURLBench = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/me"

// benchDPoPAuthorizer is benchReplicaAuthorizer with the DPoP check.
func benchDPoPAuthorizer(b *testing.B, k benchKey, cacheSize int) apigw.AuthorizerHandler {
	b.Helper()
	now := func() time.Time { return benchNow }
	v, err := token.NewVerifier("https://auth.example.com", "https://api.example.com",
		[]token.PublicKey{{KID: k.KeyID(), Alg: k.alg, Key: k.pub}},
		token.WithLeeway(10*time.Second), token.WithTimeFunc(now), token.WithMaxLifetime(15*time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	rep := replica.New(emptyFeed{}, replica.Options{SyncInterval: time.Second, MaxStaleness: 5 * time.Minute,
		Window: 15*time.Minute + 10*time.Second, Now: now, Logger: log})
	if err := rep.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	pv, err := dpop.NewVerifier(dpop.WithReplay(dpop.NewMemoryReplay(1<<22, now)), dpop.WithTimeFunc(now))
	if err != nil {
		b.Fatal(err)
	}
	svc := auth.NewAuthorizer(token.NewCache(v, cacheSize), rep, 0, auth.Options{Now: now, Logger: log})
	return apigw.Authorizer(svc, log, metrics.New(io.Discard, "authorizer"), apigw.WithResourceDPoP(pv, "", false))
}

// benchDPoPEvent is events/authorizer.json with "DPoP tok" and proof.
func benchDPoPEvent(b *testing.B, tok, proof string) []byte {
	return testenv.Event(b, "authorizer", `"authorization": "Bearer REPLACE_WITH_ACCESS_TOKEN"`,
		`"authorization": "DPoP `+tok+`", "dpop": "`+proof+`"`, "Bearer REPLACE_WITH_ACCESS_TOKEN", "DPoP "+tok)
}

// benchDPoPPath runs h on n events made by next (outside the timer).
func benchDPoPPath(b *testing.B, h apigw.AuthorizerHandler, next func(i int) []byte) {
	ctx := context.Background()
	if out, err := h.Invoke(ctx, next(-1)); err != nil || !bytes.HasPrefix(out, []byte(`{"isAuthorized":true,`)) {
		b.Fatalf("warm-up: %s %v", out, err)
	}
	evs := make([][]byte, b.N)
	for i := range evs {
		evs[i] = next(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	for i := 0; i < b.N; i++ {
		invokeOnce(b, h, ctx, evs[i])
	}
	b.StopTimer()
	cpu.report(b)
}

// BenchmarkAuthorizerDPoPCachedES256: a DPoP-bound token the authorizer
// has verified before, with a new proof: the cached token path, plus the
// proof's parse, its ES256 check, ath (SHA-256 of the token), the public
// URL and the replay record.
func BenchmarkAuthorizerDPoPCachedES256(b *testing.B) {
	k := newBenchKey(b, "ES256")
	client, err := dpopclient.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	tok := issueToken(b, k, client.JKT(), benchNow)
	h := benchDPoPAuthorizer(b, k, token.DefaultCacheSize)
	benchDPoPPath(b, h, func(int) []byte {
		return benchDPoPEvent(b, tok, client.Proof("GET", dpopURLBench, tok, benchNow))
	})
}

// BenchmarkAuthorizerDPoPNewTokenES256: a DPoP-bound token not seen
// before (two tokens taking turns in a one-entry cache), with a new
// proof: two ES256 checks, the token's and the proof's.
func BenchmarkAuthorizerDPoPNewTokenES256(b *testing.B) {
	k := newBenchKey(b, "ES256")
	client, err := dpopclient.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	toks := [2]string{issueToken(b, k, client.JKT(), benchNow), issueToken(b, k, client.JKT(), benchNow)}
	h := benchDPoPAuthorizer(b, k, 1)
	benchDPoPPath(b, h, func(i int) []byte {
		tok := toks[(i+2)&1]
		return benchDPoPEvent(b, tok, client.Proof("GET", dpopURLBench, tok, benchNow))
	})
}

// BenchmarkDPoPProofES256: the proof check alone (dpop.Verifier.Verify
// with the per-process replay record), on the same proofs.
func BenchmarkDPoPProofES256(b *testing.B) {
	k := newBenchKey(b, "ES256")
	client, err := dpopclient.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	tok := issueToken(b, k, client.JKT(), benchNow)
	now := func() time.Time { return benchNow }
	v, err := dpop.NewVerifier(dpop.WithReplay(dpop.NewMemoryReplay(1<<22, now)), dpop.WithTimeFunc(now))
	if err != nil {
		b.Fatal(err)
	}
	proofs := make([]string, b.N)
	for i := range proofs {
		proofs[i] = client.Proof("GET", dpopURLBench, tok, benchNow)
	}
	req := dpop.Request{Method: "GET", URL: dpopURLBench, AccessToken: tok, BoundKey: client.JKT()}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(ctx, proofs[i], req); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu.report(b)
}
