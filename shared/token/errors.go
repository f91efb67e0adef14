package token

import "errors"

// Sentinel errors of Verify, checked with errors.Is. Every one of them means
// "deny"; they differ only for logs and metrics.
var (
	ErrMalformed    = errors.New("token: malformed")
	ErrTooLarge     = errors.New("token: too large")
	ErrHeader       = errors.New("token: header not accepted")
	ErrType         = errors.New("token: wrong typ")
	ErrUnknownKey   = errors.New("token: unknown kid")
	ErrAlgorithm    = errors.New("token: algorithm not allowed for this key")
	ErrSignature    = errors.New("token: bad signature")
	ErrClaims       = errors.New("token: claims not valid")
	ErrMissingClaim = errors.New("token: required claim missing")
	// ErrExpired comes with ErrClaims when exp has passed (beyond the
	// leeway): the common, harmless refusal, told apart for metrics.
	ErrExpired = errors.New("token: expired")
)
