package token

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// Signer signs a JWS signing input with the service's private key and returns
// the signature in JWS form (for ECDSA the fixed-size R||S of RFC 7518
// section 3.4, not DER).
type Signer interface {
	KeyID() string     // the "kid": RFC 7638 thumbprint of the public key
	Algorithm() string // the JWS "alg" bound to the key: ES256, RS256, PS256...
	Sign(ctx context.Context, signingInput []byte) ([]byte, error)
}

type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// Issue serializes claims into a signed compact JWS with header
// {"alg","kid","typ":"at+jwt"}. golang-jwt's SigningMethod.Sign takes no
// context and no remote key, so the signing input is built here and handed to
// the Signer (one KMS Sign call).
func Issue(ctx context.Context, s Signer, c *Claims) (string, error) {
	if missing := c.required(); missing != "" {
		return "", fmt.Errorf("issue token: claim %s: %w", missing, ErrMissingClaim)
	}
	h, err := json.Marshal(header{Alg: s.Algorithm(), Kid: s.KeyID(), Typ: Type})
	if err != nil {
		return "", fmt.Errorf("issue token: header: %w", err)
	}
	p, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("issue token: claims: %w", err)
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, enc.EncodedLen(len(h))+enc.EncodedLen(len(p))+200)
	buf = enc.AppendEncode(buf, h)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, p)
	sig, err := s.Sign(ctx, buf)
	if err != nil {
		return "", fmt.Errorf("issue token: sign: %w", err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}
