package token

import (
	"fmt"

	"github.com/authkit/lambda-auth/shared/jsonscan"
)

// joseHeader is a decoded JOSE header: the values of alg, kid and typ.
type joseHeader struct {
	alg, kid, typ []byte
}

// parseHeader reads the JOSE header. Only alg, kid and typ are accepted, each
// once and as a string: jku, x5u, jwk and x5c would name keys the attacker
// chose (RFC 8725 3.10), and crit extensions we do not understand must make
// the token invalid (RFC 7515 4.1.11). Values with escapes are decoded into
// buf.
func parseHeader(b, buf []byte) (joseHeader, error) {
	var h joseHeader
	s := jsonscan.New(b, 1)
	if !s.BeginObject() {
		return h, fmt.Errorf("%w: not a JSON object", ErrHeader)
	}
	seen := 0
	for s.More() {
		name := s.Name()
		if s.Peek() != jsonscan.String {
			if err := s.Err(); err != nil {
				return h, fmt.Errorf("%w: %v", ErrHeader, err)
			}
			return h, fmt.Errorf("%w: member %q is not a string", ErrHeader, clip(name.String()))
		}
		val := s.String()
		if err := s.Err(); err != nil {
			return h, fmt.Errorf("%w: %v", ErrHeader, err)
		}
		var bit int
		switch {
		case name.Is("alg"):
			bit = 1
		case name.Is("kid"):
			bit = 2
		case name.Is("typ"):
			bit = 4
		default:
			return h, fmt.Errorf("%w: member %q not accepted", ErrHeader, clip(name.String()))
		}
		if seen&bit != 0 {
			return h, fmt.Errorf("%w: duplicate member %q", ErrHeader, clip(name.String()))
		}
		seen |= bit
		v := val.Raw()
		if !val.Plain() {
			start := len(buf)
			buf = val.Unquote(buf)
			v = buf[start:len(buf):len(buf)]
		}
		switch bit {
		case 1:
			h.alg = v
		case 2:
			h.kid = v
		case 4:
			h.typ = v
		}
	}
	s.End()
	if err := s.Finish(); err != nil {
		return h, fmt.Errorf("%w: %v", ErrHeader, err)
	}
	if seen != 7 {
		return h, fmt.Errorf("%w: alg, kid and typ are required", ErrHeader)
	}
	return h, nil
}

// clip shortens attacker-chosen text that goes into an error (and from there
// into the authorizer's deny log line) to 32 bytes.
func clip(s string) string {
	if len(s) <= 32 {
		return s
	}
	return s[:32] + "..."
}
