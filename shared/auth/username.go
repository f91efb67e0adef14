package auth

import (
	"errors"

	"golang.org/x/text/secure/precis"
)

// MaxPasswordBytes is the longest password accepted. argon2 hashes any
// length, but a bound keeps request bodies small and refuses abuse before
// any hashing.
const MaxPasswordBytes = 1024

// MaxUsernameBytes bounds usernames after normalization.
const MaxUsernameBytes = 64

// MaxUsernameInputBytes bounds a username as typed, before normalization
// (width mapping can shrink it): longer input is refused unread.
const MaxUsernameInputBytes = 4 * MaxUsernameBytes

// ErrUsername is returned for a username that cannot name an account.
var ErrUsername = errors.New("username: not a valid username")

// NormalizeUsername maps a username to the one form stored and compared:
// the PRECIS UsernameCaseMapped profile (RFC 8265 3.3: width mapping, lower
// case, NFC; spaces and controls refused), then restricted to a conservative
// ASCII set. Full-width "ＡＬＩＣＥ" and "Alice" both map to "alice", while
// look-alikes from other scripts (Cyrillic "аlice") are refused instead of
// becoming a second account that reads the same.
func NormalizeUsername(s string) (string, error) {
	if s == "" || len(s) > MaxUsernameInputBytes {
		return "", ErrUsername
	}
	n, err := precis.UsernameCaseMapped.String(s)
	if err != nil || n == "" || len(n) > MaxUsernameBytes {
		return "", ErrUsername
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '.' || c == '_' || c == '-' || c == '@' || c == '+') && i > 0:
		default:
			return "", ErrUsername
		}
	}
	return n, nil
}
