package dpop

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// NonceLabel is the label to derive a Nonces secret with
// kmssign.DeriveKey from the KMS HMAC key, as the functions derive their
// refresh MAC secret: every container of every function then computes the
// same nonces with nothing stored. Changing it changes every nonce, so it
// carries a version.
const NonceLabel = "lambda-auth/v1/dpop-nonce"

// MinNonceSecretBytes is the shortest secret NewNonces takes.
const MinNonceSecretBytes = 32

// nonceBytes is the size of a nonce before base64url: 128 bits.
const nonceBytes = 16

// Nonces makes and checks stateless server nonces (RFC 9449 section 8 for
// the token endpoint, 9 for resources): the nonce of time step t is HKDF
// (RFC 5869, SHA-256) of the secret with t as info, so any container that
// holds the secret makes and checks it without storing anything. A nonce is
// accepted during its own step and the next one, so it lives between one
// and two steps; it is the same for every client during a step (it proves
// freshness, not identity). Safe for concurrent use.
type Nonces struct {
	secret []byte
	step   time.Duration
	cache  atomic.Pointer[nonceStep]
}

// nonceStep holds the nonces of one step and of the one before it.
type nonceStep struct {
	n         int64
	cur, prev [nonceBytes]byte
	curText   string
}

// NewNonces returns Nonces over secret (at least MinNonceSecretBytes,
// uniformly random: kmssign.DeriveKey with NonceLabel) for time steps of
// step (at least one second).
func NewNonces(secret []byte, step time.Duration) (*Nonces, error) {
	if len(secret) < MinNonceSecretBytes {
		return nil, fmt.Errorf("dpop nonces: secret of %d bytes, want %d at least", len(secret), MinNonceSecretBytes)
	}
	if step < time.Second {
		return nil, fmt.Errorf("dpop nonces: step %s, want 1s at least", step)
	}
	return &Nonces{secret: append([]byte(nil), secret...), step: step}, nil
}

// NewNonce is the nonce to send in a DPoP-Nonce header at now (RFC 9449 8.1).
func (ns *Nonces) NewNonce(now time.Time) string {
	return ns.at(now).curText
}

// CheckNonce reports whether nonce is the nonce of now's time step or of
// the step before it, comparing in constant time.
func (ns *Nonces) CheckNonce(nonce string, now time.Time) bool {
	var got [nonceBytes]byte
	if b64.EncodedLen(nonceBytes) != len(nonce) {
		return false
	}
	if n, err := b64.Decode(got[:], []byte(nonce)); err != nil || n != nonceBytes {
		return false
	}
	st := ns.at(now)
	okCur := subtle.ConstantTimeCompare(got[:], st.cur[:])
	okPrev := subtle.ConstantTimeCompare(got[:], st.prev[:])
	return okCur|okPrev == 1
}

// at returns the nonces of now's step, computing them when the step changed.
func (ns *Nonces) at(now time.Time) *nonceStep {
	n := now.UnixNano() / int64(ns.step)
	if now.UnixNano() < 0 {
		n-- // floor for times before 1970
	}
	if st := ns.cache.Load(); st != nil && st.n == n {
		return st
	}
	st := &nonceStep{n: n}
	ns.derive(n, st.cur[:])
	ns.derive(n-1, st.prev[:])
	st.curText = b64.EncodeToString(st.cur[:])
	// Another goroutine may store a step computed for another clock
	// reading: either is correct for its own n, and a later call
	// recomputes when n differs.
	ns.cache.Store(st)
	return st
}

func (ns *Nonces) derive(n int64, dst []byte) {
	var info [len(NonceLabel) + 8]byte
	copy(info[:], NonceLabel)
	binary.BigEndian.PutUint64(info[len(NonceLabel):], uint64(n))
	k, err := hkdf.Expand(sha256.New, ns.secret, string(info[:]), len(dst))
	if err != nil { // only for a length above 255 hashes: not ours
		panic(errors.New("dpop nonces: " + err.Error()))
	}
	copy(dst, k)
}
