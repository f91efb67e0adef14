package token

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authkit/lambda-auth/shared/jsonscan"
)

const maxDepth = 16

// claimsBlock holds the claims and what they point to, so that reading a
// token's claims is one allocation.
type claimsBlock struct {
	Claims
	exp, nbf, iat, authTime jwt.NumericDate
	aud                     [1]string
	cnf                     Confirmation
}

// parseClaims reads the payload in one pass. It must be a single JSON object
// without duplicate member names at any depth, compared after case folding:
// encoding/json silently keeps the last of duplicates and matches names
// case-insensitively, so two parsers could read different claims from the
// same token (RFC 8259 4, RFC 7515 5.2 step 4 says such a JWS must be
// rejected or read unambiguously). A claim name the service reads must be
// spelled exactly ("EXP" or "ſub" would be read as exp or sub by Go and
// ignored by other verifiers); exp, iat and nbf must be JSON numbers.
// Claims are decoded as encoding/json decodes Claims (the tests compare
// both): a string claim may be null, aud a string or an array of strings.
func parseClaims(pb []byte) (*Claims, error) {
	ps := string(pb) // the claims' strings are slices of it
	blk := new(claimsBlock)
	c := &blk.Claims
	s := jsonscan.New(pb, maxDepth)
	s.RejectDuplicates()
	if !s.BeginObject() {
		return nil, errors.New("not a JSON object")
	}
	var folded [16]byte
	for s.More() {
		name := s.Name()
		if s.Err() != nil {
			break
		}
		f := name.AppendFolded(folded[:0])
		if isClaimName(f) && !name.Is(string(f)) {
			return nil, fmt.Errorf("member %q is not spelled %q", name.String(), string(f))
		}
		var err error
		switch string(f) {
		case "iss":
			err = readString(&s, ps, &c.Issuer)
		case "sub":
			err = readString(&s, ps, &c.Subject)
		case "jti":
			err = readString(&s, ps, &c.ID)
		case "sid":
			err = readString(&s, ps, &c.SessionID)
		case "client_id":
			err = readString(&s, ps, &c.ClientID)
		case "scope":
			err = readString(&s, ps, &c.Scope)
		case "aud":
			err = readAudience(&s, ps, blk)
		case "exp":
			err = readDate(&s, ps, "exp", &blk.exp, &c.ExpiresAt)
		case "nbf":
			err = readDate(&s, ps, "nbf", &blk.nbf, &c.NotBefore)
		case "iat":
			err = readDate(&s, ps, "iat", &blk.iat, &c.IssuedAt)
		case "auth_time":
			err = readDate(&s, ps, "auth_time", &blk.authTime, &c.AuthTime)
		case "amr":
			err = readStrings(&s, ps, "amr", &c.AMR)
		case "cnf":
			err = readConfirmation(&s, ps, blk)
		default:
			s.Skip()
		}
		if err != nil {
			return nil, err
		}
	}
	s.End()
	if err := s.Finish(); err != nil {
		return nil, err
	}
	return c, nil
}

// isClaimName reports whether a folded member name is one of the claims the
// service reads (the fields of Claims).
func isClaimName(folded []byte) bool {
	switch string(folded) {
	case "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "client_id", "scope",
		"cnf", "amr", "auth_time":
		return true
	}
	return false
}

// str returns a string value, a slice of ps when it needs no decoding.
func str(v jsonscan.Str, ps string) string {
	if v.Plain() {
		return ps[v.Offset() : v.Offset()+len(v.Raw())]
	}
	return string(v.Unquote(nil))
}

// readString reads a string claim; null leaves it empty, as encoding/json does.
func readString(s *jsonscan.Scanner, ps string, dst *string) error {
	switch s.Peek() {
	case jsonscan.String:
		*dst = str(s.String(), ps)
	case jsonscan.Null:
		s.Literal()
	default:
		s.Skip()
		return errors.New("a string claim is not a string")
	}
	return s.Err()
}

// NumericDate bounds (RFC 7519 section 2: seconds since the epoch): the
// first second of year 1 and the last of year 9999. Beyond them time.Time's
// arithmetic wraps (a far-future nbf or iat would compare as the distant
// past) and float-to-int64 conversion differs between amd64 and arm64.
const (
	minNumericDate = -62135596800
	maxNumericDate = 253402300799
)

// InNumericDateRange tells whether f seconds is a date this verifier reads.
func InNumericDateRange(f float64) bool { return f >= minNumericDate && f <= maxNumericDate }

// readDate reads exp, iat or nbf: a JSON number of seconds, converted as
// jwt.NumericDate's UnmarshalJSON does.
func readDate(s *jsonscan.Scanner, ps, name string, dst *jwt.NumericDate, ptr **jwt.NumericDate) error {
	if s.Peek() != jsonscan.Number {
		s.Skip()
		return fmt.Errorf("member %q is not a number", name)
	}
	num := s.Number()
	if err := s.Err(); err != nil {
		return err
	}
	end := s.Pos()
	f, err := strconv.ParseFloat(ps[end-len(num):end], 64)
	if err != nil {
		return fmt.Errorf("member %q: %w", name, err)
	}
	if !InNumericDateRange(f) {
		return fmt.Errorf("member %q is not a date between the years 1 and 9999", name)
	}
	round, frac := math.Modf(f)
	*dst = jwt.NumericDate{Time: time.Unix(int64(round), int64(frac*1e9)).Truncate(jwt.TimePrecision)}
	*ptr = dst
	return nil
}

// readAudience reads aud as jwt.ClaimStrings' UnmarshalJSON does: a string,
// an array of strings (an empty one gives no audience), or null.
func readAudience(s *jsonscan.Scanner, ps string, blk *claimsBlock) error {
	switch s.Peek() {
	case jsonscan.String:
		blk.aud[0] = str(s.String(), ps)
		blk.Audience = blk.aud[:1:1]
	case jsonscan.Null:
		s.Literal()
	case jsonscan.Array:
		s.BeginArray()
		var aud []string
		for s.More() {
			if s.Peek() != jsonscan.String {
				s.Skip()
				return errors.New("aud holds a value that is not a string")
			}
			v := str(s.String(), ps)
			if aud == nil {
				blk.aud[0] = v
				aud = blk.aud[:1:1]
			} else {
				aud = append(aud, v)
			}
		}
		s.End()
		blk.Audience = aud
	default:
		s.Skip()
		return errors.New("aud is neither a string nor an array")
	}
	return s.Err()
}

// readStrings reads an array of strings as encoding/json decodes a
// []string: null leaves it nil, an empty array gives an empty slice.
func readStrings(s *jsonscan.Scanner, ps, name string, dst *[]string) error {
	switch s.Peek() {
	case jsonscan.Null:
		s.Literal()
	case jsonscan.Array:
		s.BeginArray()
		v := []string{}
		for s.More() {
			if s.Peek() != jsonscan.String {
				s.Skip()
				return fmt.Errorf("%s holds a value that is not a string", name)
			}
			v = append(v, str(s.String(), ps))
		}
		s.End()
		*dst = v
	default:
		s.Skip()
		return fmt.Errorf("%s is not an array", name)
	}
	return s.Err()
}

// readConfirmation reads cnf (RFC 7800 section 3.1): an object whose jkt
// (RFC 9449 section 6.1) is read, spelled exactly like the top-level
// claims; its other confirmation methods are skipped; null leaves it nil.
func readConfirmation(s *jsonscan.Scanner, ps string, blk *claimsBlock) error {
	switch s.Peek() {
	case jsonscan.Null:
		s.Literal()
		return s.Err()
	case jsonscan.Object:
	default:
		s.Skip()
		return errors.New("cnf is not an object")
	}
	s.BeginObject()
	var folded [16]byte
	for s.More() {
		name := s.Name()
		if s.Err() != nil {
			break
		}
		f := name.AppendFolded(folded[:0])
		if string(f) != "jkt" {
			s.Skip()
			continue
		}
		if !name.Is("jkt") {
			return fmt.Errorf("cnf member %q is not spelled \"jkt\"", name.String())
		}
		if err := readString(s, ps, &blk.cnf.JKT); err != nil {
			return fmt.Errorf("cnf.jkt: %w", err)
		}
	}
	s.End()
	blk.Confirmation = &blk.cnf
	return s.Err()
}
