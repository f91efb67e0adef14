// Package kmssign signs access tokens with an AWS KMS asymmetric key and
// publishes the public keys as a JWKS.
//
// The private key never leaves KMS: Sign sends the SHA digest of the JWS
// signing input (MessageType DIGEST) and converts KMS's DER ECDSA signature
// to the R||S form JWS needs (RFC 7518 3.4). Public keys are fetched once,
// at init, with GetPublicKey.
package kmssign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/authkit/lambda-auth/shared/token"
)

// api is the part of the KMS client this package uses.
type api interface {
	Sign(ctx context.Context, in *kms.SignInput, opts ...func(*kms.Options)) (*kms.SignOutput, error)
	GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, opts ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
}

// Key is a KMS key's public half with the JWS algorithm bound to it.
type Key struct {
	ARN string // resolved key ARN: signing uses it, never an alias that may move
	token.PublicKey
}

type algSpec struct {
	kms   kmstypes.SigningAlgorithmSpec
	hash  crypto.Hash
	curve elliptic.Curve // ECDSA only
}

var algs = map[string]algSpec{
	"ES256": {kmstypes.SigningAlgorithmSpecEcdsaSha256, crypto.SHA256, elliptic.P256()},
	"ES384": {kmstypes.SigningAlgorithmSpecEcdsaSha384, crypto.SHA384, elliptic.P384()},
	"ES512": {kmstypes.SigningAlgorithmSpecEcdsaSha512, crypto.SHA512, elliptic.P521()},
	"RS256": {kmstypes.SigningAlgorithmSpecRsassaPkcs1V15Sha256, crypto.SHA256, nil},
	"PS256": {kmstypes.SigningAlgorithmSpecRsassaPssSha256, crypto.SHA256, nil},
}

// LoadKey fetches the public key of keyID (id, ARN or alias) and binds it to
// one algorithm: the curve decides for ECC keys, rsaAlg (RS256 or PS256) for
// RSA keys.
func LoadKey(ctx context.Context, client api, keyID, rsaAlg string) (Key, error) {
	out, err := client.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: &keyID})
	if err != nil {
		return Key{}, fmt.Errorf("get public key %s: %w", keyID, err)
	}
	if out.KeyUsage != kmstypes.KeyUsageTypeSignVerify {
		return Key{}, fmt.Errorf("key %s: usage %s, want SIGN_VERIFY", keyID, out.KeyUsage)
	}
	pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
	if err != nil {
		return Key{}, fmt.Errorf("key %s: parse public key: %w", keyID, err)
	}
	var alg string
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			alg = "ES256"
		case elliptic.P384():
			alg = "ES384"
		case elliptic.P521():
			alg = "ES512"
		default:
			return Key{}, fmt.Errorf("key %s: unsupported curve %s", keyID, k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		alg = rsaAlg
	default:
		return Key{}, fmt.Errorf("key %s: unsupported key type %T", keyID, pub)
	}
	spec, ok := algs[alg]
	if !ok {
		return Key{}, fmt.Errorf("key %s: unsupported algorithm %q", keyID, alg)
	}
	if !slices.Contains(out.SigningAlgorithms, spec.kms) {
		return Key{}, fmt.Errorf("key %s: KMS does not offer %s for it", keyID, spec.kms)
	}
	kid, err := token.Thumbprint(pub)
	if err != nil {
		return Key{}, fmt.Errorf("key %s: %w", keyID, err)
	}
	arn := keyID
	if out.KeyId != nil {
		arn = *out.KeyId
	}
	return Key{ARN: arn, PublicKey: token.PublicKey{KID: kid, Alg: alg, Key: pub}}, nil
}

// Signer signs with one KMS key. It implements token.Signer.
type Signer struct {
	client api
	key    Key
	spec   algSpec
}

// New returns a Signer for keyID; it calls GetPublicKey once to learn the
// key's algorithm and kid.
func New(ctx context.Context, client api, keyID, rsaAlg string) (*Signer, error) {
	k, err := LoadKey(ctx, client, keyID, rsaAlg)
	if err != nil {
		return nil, err
	}
	return &Signer{client: client, key: k, spec: algs[k.Alg]}, nil
}

// KeyID is the kid of the signing key.
func (s *Signer) KeyID() string { return s.key.KID }

// Algorithm is the JWS alg of the signing key.
func (s *Signer) Algorithm() string { return s.key.Alg }

// Key is the signing key's public half (JWKS, verification in tests).
func (s *Signer) Key() Key { return s.key }

// Sign signs signingInput with one KMS Sign call and returns a JWS
// signature.
func (s *Signer) Sign(ctx context.Context, signingInput []byte) ([]byte, error) {
	h := s.spec.hash.New()
	h.Write(signingInput)
	digest := h.Sum(nil)
	out, err := s.client.Sign(ctx, &kms.SignInput{
		KeyId:            &s.key.ARN,
		Message:          digest,
		MessageType:      kmstypes.MessageTypeDigest,
		SigningAlgorithm: s.spec.kms,
	})
	if err != nil {
		return nil, fmt.Errorf("kms sign: %w", err)
	}
	if s.spec.curve == nil {
		return out.Signature, nil
	}
	return DERToJWS(out.Signature, s.spec.curve)
}

// DERToJWS converts an ASN.1 DER ECDSA signature (SEQUENCE { r, s }), the
// form KMS returns, to the JWS form: R and S as big-endian unsigned integers
// left-padded to the curve size each, concatenated (RFC 7518 section 3.4).
// S is normalized to the lower of s and n-s (both verify), so every token
// has exactly one valid signature and verifiers can refuse the other.
func DERToJWS(der []byte, curve elliptic.Curve) ([]byte, error) {
	n := curve.Params().N
	size := (curve.Params().BitSize + 7) / 8
	var r, s big.Int
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		return nil, errors.New("kms sign: signature is not DER ECDSA")
	}
	if r.Sign() <= 0 || s.Sign() <= 0 || r.Cmp(n) >= 0 || s.Cmp(n) >= 0 {
		return nil, errors.New("kms sign: signature out of range")
	}
	if s.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		s.Sub(n, &s)
	}
	out := make([]byte, 2*size)
	r.FillBytes(out[:size])
	s.FillBytes(out[size:])
	return out, nil
}
