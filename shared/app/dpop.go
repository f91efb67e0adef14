package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/authkit/lambda-auth/shared/apigw"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dpop"
	"github.com/authkit/lambda-auth/shared/kmssign"
)

// dpopAlgorithms are the algorithms a DPoP proof may be signed with (RFC
// 9449 4.3 step 5), which discovery advertises as
// dpop_signing_alg_values_supported: ES256, what browsers (WebCrypto
// ECDSA P-256) and oauth4webapi sign with.
var dpopAlgorithms = []string{"ES256"}

// DPoPNonceStep is the time step of the token endpoint's server nonces
// (DPOP_NONCE=required): a nonce is accepted for one to two steps (RFC
// 9449 8, dpop.Nonces), and a proof must be fresh by its iat anyway.
const DPoPNonceStep = time.Minute

// dpopReplayEntries bounds the token endpoint's per-process replay cache
// (about 100 bytes an entry): proofs accepted within one iat window
// (dpop.DefaultMaxAge) by one container, far above what login and refresh
// take.
const dpopReplayEntries = 100_000

// dpop builds the token endpoint's DPoP proof checking (RFC 9449 5):
// DPOP_MODE, the allow-list, a replay cache per process, and, with
// DPOP_NONCE=required, stateless nonces keyed by a secret derived from the
// KMS HMAC key (one more GenerateMac at init) with its own label, so that
// every container of login, passkey-login and refresh computes the same
// nonce.
func (w *wiring) dpop(ctx context.Context) (*apigw.DPoP, error) {
	var ns *dpop.Nonces
	if w.cfg.DPoPNonce && w.cfg.DPoPMode != auth.DPoPOff {
		secret, err := kmssign.DeriveKey(ctx, kms.NewFromConfig(w.aws), w.cfg.MACKeyID, dpop.NonceLabel)
		if err != nil {
			return nil, fmt.Errorf("DPoP nonce key: %w", err)
		}
		if ns, err = dpop.NewNonces(secret, DPoPNonceStep); err != nil {
			return nil, err
		}
	}
	return apigw.NewDPoP(apigw.DPoPConfig{
		Mode: w.cfg.DPoPMode, Algorithms: dpopAlgorithms, Nonces: ns,
		Replay: dpop.NewMemoryReplay(dpopReplayEntries, w.set.now),
		// An http:// issuer is scripts/dev on this machine (config
		// allows no other): the URLs clients address are http.
		PlainHTTP: strings.HasPrefix(w.cfg.Issuer, "http://"),
		// The URL clients address, as the authorizer reads it (a CDN).
		PublicOrigin: w.cfg.PublicOrigin,
		Now:          w.set.now,
		Logger:       w.set.logger,
	})
}

// dpopMetadata is what discovery says of DPoP: the algorithms proofs may
// use (RFC 9449 5.1), or nothing when DPOP_MODE is off.
func (w *wiring) dpopMetadata() ([]string, error) {
	if w.cfg.DPoPMode == auth.DPoPOff {
		return nil, nil
	}
	v, err := dpop.NewVerifier(dpop.WithAlgorithms(dpopAlgorithms...))
	if err != nil {
		return nil, err
	}
	return v.Algorithms(), nil
}
