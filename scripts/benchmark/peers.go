package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/authkit/lambda-auth/shared/token"
)

// peerResult is ns per verification of the same ES256 token, one value per
// round, by peer.
type peerResult struct {
	ns  map[string][]float64
	cmd string
}

// peerOrder is the display order of infra/bench/peers/verify.mjs's peers.
var peerOrder = []string{"node crypto.verify", "aws-jwt-verify verifySync", "jose jwtVerify", "jsonwebtoken verify (PEM string)"}

// runPeers verifies one ES256 token, with the claims of the Go
// benchmarks' tokens, with the Node peers (pinned in
// infra/bench/peers/package-lock.json; scripts/bench installs them).
func runPeers(ctx context.Context, o *options, r *report) error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	kid, _ := token.Thumbprint(&priv.PublicKey)
	jwk, err := token.PublicJWK(&priv.PublicKey)
	if err != nil {
		return err
	}
	jwk.Kid, jwk.Alg, jwk.Use = kid, "ES256", "sig"
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return err
	}
	now := time.Now()
	sid := make([]byte, 24)
	binary.BigEndian.PutUint64(sid, uint64(now.Add(-time.Hour).UnixMilli()))
	rand.Read(sid[8:])
	c := &token.Claims{SessionID: base64.RawURLEncoding.EncodeToString(sid), ClientID: "web", Scope: "read write"}
	c.Issuer, c.Subject, c.ID = "https://auth.example.com", "usr_4a6f2c1e9b0d7a3f5c2e8d1b", "Zm9vYmFyYmF6cXV4MTIzNA"
	c.Audience = []string{"https://api.example.com"}
	c.IssuedAt, c.ExpiresAt = token.NumericDate(now.Add(-time.Minute)), token.NumericDate(now.Add(14*time.Minute))
	raw, err := token.Issue(ctx, ecSigner{priv, kid}, c)
	if err != nil {
		return err
	}
	in, _ := json.Marshal(map[string]any{
		"token": raw, "jwk": jwk, "pem": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		"issuer": c.Issuer, "audience": c.Audience[0], "iterations": 2000, "rounds": o.rounds,
	})
	dir := filepath.Join(o.root, "infra", "bench", "peers")
	cmd := exec.CommandContext(ctx, "node", "verify.mjs")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("node verify.mjs (npm ci in %s first): %v\n%s", dir, err, errOut.String())
	}
	res := peerResult{ns: map[string][]float64{},
		cmd: fmt.Sprintf("cd infra/bench/peers && npm ci && node verify.mjs < input.json   # 2000 verifications per round, %d rounds; input as runPeers in scripts/benchmark/peers.go builds it", o.rounds)}
	if err := json.Unmarshal(out.Bytes(), &res.ns); err != nil {
		return fmt.Errorf("node verify.mjs output %q: %w", out.String(), err)
	}
	for _, p := range peerOrder {
		if len(res.ns[p]) == 0 {
			return fmt.Errorf("node verify.mjs measured no %q", p)
		}
	}
	r.peers = res
	return nil
}

// ecSigner signs as the KMS signer does (R||S, low S) with a local key.
type ecSigner struct {
	priv *ecdsa.PrivateKey
	kid  string
}

func (s ecSigner) KeyID() string     { return s.kid }
func (s ecSigner) Algorithm() string { return "ES256" }
func (s ecSigner) Sign(_ context.Context, in []byte) ([]byte, error) {
	d := sha256.Sum256(in)
	r, sv, err := ecdsa.Sign(rand.Reader, s.priv, d[:])
	if err != nil {
		return nil, err
	}
	if n := s.priv.Curve.Params().N; sv.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		sv.Sub(n, sv)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	sv.FillBytes(out[32:])
	return out, nil
}
