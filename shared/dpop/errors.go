package dpop

import "errors"

// Sentinel errors of Verify, checked with errors.Is. Every one of them
// refuses the request. All but ErrUseNonce also match ErrInvalidProof, so
// that the caller maps them to the two error codes of RFC 9449 in one place:
// ErrInvalidProof to invalid_dpop_proof (sections 5 and 7.1) and ErrUseNonce
// to use_dpop_nonce with a fresh DPoP-Nonce header (sections 8 and 9). The
// kinds differ for logs and metrics.
var (
	// ErrInvalidProof matches every refusal but ErrUseNonce.
	ErrInvalidProof = errors.New("dpop: invalid proof")

	// ErrMalformed: not one compact JWS of JSON objects, each member once
	// (RFC 9449 4.3 step 2).
	ErrMalformed = proofError("dpop: malformed proof")
	// ErrType: typ is not dpop+jwt (4.3 step 4).
	ErrType = proofError("dpop: typ is not dpop+jwt")
	// ErrAlgorithm: alg is not an asymmetric algorithm of the allow-list
	// (4.3 step 5).
	ErrAlgorithm = proofError("dpop: algorithm not allowed")
	// ErrKey: jwk missing, holding a private key (4.3 step 7), or not a
	// valid public key of alg's type and curve (4.3 step 5).
	ErrKey = proofError("dpop: jwk not accepted")
	// ErrSignature: the signature does not verify with the jwk (4.3 step 6).
	ErrSignature = proofError("dpop: bad signature")
	// ErrClaims: a required claim is missing or not valid (4.3 step 3).
	ErrClaims = proofError("dpop: claim missing or not valid")
	// ErrMethod: htm is not the request's method (4.3 step 8).
	ErrMethod = proofError("dpop: htm does not match the request method")
	// ErrURI: htu is not the request's URI (4.3 step 9).
	ErrURI = proofError("dpop: htu does not match the request URI")
	// ErrIssuedAt: iat is outside the window (4.3 step 11, 11.1).
	ErrIssuedAt = proofError("dpop: iat outside the accepted window")
	// ErrTokenHash: ath is missing or not the access token's hash (4.3
	// step 12, 7.1).
	ErrTokenHash = proofError("dpop: ath does not match the access token")
	// ErrKeyMismatch: the proof's key is not the one the credential is
	// bound to (4.3 step 12, 6.1).
	ErrKeyMismatch = proofError("dpop: proof key is not the key the token is bound to")
	// ErrReplay: the proof was accepted before (11.1).
	ErrReplay = proofError("dpop: proof replayed")

	// ErrUseNonce is a missing, unknown or stale nonce when the server
	// requires one (sections 8 and 9): the client retries with the nonce of the
	// DPoP-Nonce header, so it is not an invalid proof.
	ErrUseNonce = errors.New("dpop: use the server's nonce")
)

// kindError is one kind of invalid proof.
type kindError struct{ msg string }

func proofError(msg string) error { return &kindError{msg} }

func (e *kindError) Error() string { return e.msg }

// Is makes every kind match ErrInvalidProof.
func (e *kindError) Is(target error) bool { return target == ErrInvalidProof }

// clip shortens attacker-chosen text that goes into an error (and from there
// into a log line) to 32 bytes.
func clip(s string) string {
	if len(s) <= 32 {
		return s
	}
	return s[:32] + "..."
}
