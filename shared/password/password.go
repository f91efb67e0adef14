// Package password hashes and verifies passwords with argon2id and
// normalizes usernames.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"

	"github.com/authkit/lambda-auth/shared/auth"
)

// Params are argon2id cost parameters. Default follows the OWASP Password
// Storage Cheat Sheet minimum for argon2id: m=19 MiB, t=2, p=1.
type Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// Default is the cost new hashes get.
var Default = Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

// Limits of what Verify accepts from a stored hash, so a corrupted or
// hostile record cannot make login allocate gigabytes.
const (
	maxMemoryKiB = 256 * 1024
	maxTime      = 10
	saltLen      = 16
	keyLen       = 32
)

// MaxBytes is the longest password accepted (auth.MaxPasswordBytes, which
// login checks before any hashing).
const MaxBytes = auth.MaxPasswordBytes

// dummy is a hash at Default cost of a random password nobody knows. Login
// verifies against it when the user does not exist, so an unknown user and a
// wrong password cost the same work (OWASP Authentication Cheat Sheet). It
// follows Default, so raising the cost cannot open a timing difference;
// login computes it at init (one hash, once per container).
var dummy = sync.OnceValue(func() string {
	secret := make([]byte, 32)
	rand.Read(secret)
	h, err := Hash(base64.RawStdEncoding.EncodeToString(secret), Default)
	if err != nil {
		panic("password: dummy hash: " + err.Error())
	}
	return h
})

// Dummy returns the hash to verify against when there is no user.
func Dummy() string { return dummy() }

// Hash returns the PHC string of password at cost p with a random salt.
func Hash(password string, p Params) (string, error) {
	if len(password) == 0 || len(password) > MaxBytes {
		return "", fmt.Errorf("password: length must be 1..%d bytes", MaxBytes)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// ErrBadHash is returned for a stored hash that is not a usable argon2id PHC string.
var ErrBadHash = errors.New("password: unusable hash")

// Verify reports whether password matches the PHC string encoded. It reads
// the cost from the hash, so raising Default does not break old hashes.
func Verify(encoded, password string) (bool, error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

func decode(encoded string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, ErrBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, ErrBadHash
	}
	if p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxMemoryKiB || p.Time < 1 || p.Time > maxTime || p.Threads < 1 {
		return p, nil, nil, ErrBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, ErrBadHash
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, ErrBadHash
	}
	return p, salt, key, nil
}
