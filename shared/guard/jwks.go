package guard

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/authkit/lambda-auth/shared/token"
)

// maxJWKSBytes bounds a JWKS document read from the network.
const maxJWKSBytes = 64 << 10

// fetchJWKS reads the key set at url and returns its usable keys and how
// long it may be cached (its Cache-Control max-age, within [1 min, 1 h]; 5
// min without one). Keys it cannot use are left out with the reason in
// skipped; a document with no usable key is an error.
func fetchJWKS(ctx context.Context, client *http.Client, url string) (keys []token.PublicKey, maxAge time.Duration, skipped []string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 { // the client follows none (New)
		return nil, 0, nil, fmt.Errorf("fetch JWKS: %s answered %d, a redirect (to %.200q): not followed, the JWKS URL must name the document itself",
			url, resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, nil, fmt.Errorf("fetch JWKS: %s answered %d", url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, 0, nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, 0, nil, fmt.Errorf("fetch JWKS: document over %d bytes", maxJWKSBytes)
	}
	keys, skipped, err = parseJWKS(body)
	if err != nil {
		return nil, 0, skipped, err
	}
	return keys, cacheAge(resp.Header.Get("Cache-Control")), skipped, nil
}

func cacheAge(cc string) time.Duration {
	age := 5 * time.Minute
	for _, d := range strings.Split(cc, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(strings.ToLower(d)), "max-age="); ok {
			if s, err := strconv.Atoi(v); err == nil {
				age = time.Duration(s) * time.Second
			}
		}
	}
	return min(max(age, time.Minute), time.Hour)
}

// parseJWKS reads a JWK Set (RFC 7517 5). A key is used only if it is a
// signature key (use absent or "sig", RFC 7517 4.2) that names its
// algorithm (alg, RFC 7517 4.4: the key decides the algorithm, RFC 8725
// 3.1), its kid is the RFC 7638 thumbprint of the key (so a kid cannot be
// paired with another key), and the key fits the algorithm (curve, RSA
// size: token.NewVerifier checks it again).
func parseJWKS(doc []byte) ([]token.PublicKey, []string, error) {
	var set struct {
		Keys []token.JWK `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, nil, fmt.Errorf("JWKS: %w", err)
	}
	var keys []token.PublicKey
	var skipped []string
	for i, j := range set.Keys {
		k, err := publicKey(j)
		if err == nil {
			// The key must also fit its algorithm as the verifier requires
			// (curve, RSA size, a supported alg): one unusable key is left
			// out rather than failing the whole set.
			_, err = token.NewVerifier("-", "-", []token.PublicKey{k})
		}
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d (kid %.64q): %v", i, j.Kid, err))
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, skipped, fmt.Errorf("JWKS: no usable key (%s)", strings.Join(skipped, "; "))
	}
	return keys, skipped, nil
}

var b64 = base64.RawURLEncoding.Strict()

func publicKey(j token.JWK) (token.PublicKey, error) {
	if j.Use != "" && j.Use != "sig" {
		return token.PublicKey{}, fmt.Errorf("use %q, want sig", j.Use)
	}
	var pub any
	switch j.Kty {
	case "EC":
		curve, ok := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}[j.Crv]
		if !ok {
			return token.PublicKey{}, fmt.Errorf("curve %q", j.Crv)
		}
		size := (curve.Params().BitSize + 7) / 8
		x, errX := b64.DecodeString(j.X)
		y, errY := b64.DecodeString(j.Y)
		if errX != nil || errY != nil || len(x) != size || len(y) != size { // RFC 7518 6.2.1.2
			return token.PublicKey{}, errors.New("x and y must be the curve's size, base64url")
		}
		k, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
		if err != nil {
			return token.PublicKey{}, fmt.Errorf("not a point of %s: %w", j.Crv, err)
		}
		pub = k
	case "RSA":
		n, errN := b64.DecodeString(j.N)
		e, errE := b64.DecodeString(j.E)
		if errN != nil || errE != nil || len(e) == 0 || len(e) > 4 || len(n) == 0 || n[0] == 0 {
			return token.PublicKey{}, errors.New("n and e must be base64url big-endian integers")
		}
		if len(n) > 8192/8 {
			return token.PublicKey{}, errors.New("RSA modulus over 8192 bits")
		}
		exp := new(big.Int).SetBytes(e)
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}
	default:
		return token.PublicKey{}, fmt.Errorf("kty %q", j.Kty)
	}
	if j.Alg == "" {
		return token.PublicKey{}, errors.New("no alg: the key must name its algorithm")
	}
	kid, err := token.Thumbprint(pub)
	if err != nil || kid != j.Kid {
		return token.PublicKey{}, errors.New("kid is not the RFC 7638 thumbprint of the key")
	}
	return token.PublicKey{KID: j.Kid, Alg: j.Alg, Key: pub}, nil
}
