// Package jsonscan reads one JSON text (RFC 8259) in a single pass, value by
// value, without reflection and without allocating for the common case.
// It exists for the authorizer's hot path: the JWS header and payload and the
// API Gateway event are read with it instead of encoding/json.
//
// It accepts exactly what encoding/json accepts (json.Valid), and its strings
// decode exactly as encoding/json decodes them (escapes, surrogate pairs,
// invalid UTF-8 and lone surrogates replaced by U+FFFD); the tests compare
// both on the same inputs. Optionally it refuses duplicate member names in
// every object, compared after the case folding shown by Fold.
//
// Use:
//
//	s := jsonscan.New(data, 16)
//	if !s.BeginObject() { ... }
//	for s.More() {
//		name := s.Name()
//		switch {
//		case name.Is("alg"):
//			v := s.String()
//		default:
//			s.Skip()
//		}
//	}
//	s.End()
//	if err := s.Finish(); err != nil { ... }
//
// The first error sticks: later calls do nothing and return zero values, and
// Finish (or Err) reports it.
package jsonscan

import (
	"errors"
	"fmt"
)

// Kind is the kind of a JSON value, known from its first byte.
type Kind uint8

// The kinds of JSON values.
const (
	Invalid Kind = iota
	Null
	Bool
	Number
	String
	Array
	Object
)

// ErrDuplicate is the error for a member name repeated in one object.
var ErrDuplicate = errors.New("jsonscan: duplicate member name")

// Scanner reads one JSON text. The zero value is not usable: use New.
type Scanner struct {
	data       []byte
	pos        int
	err        error
	afterValue bool   // a value was just read inside the current container
	stack      []byte // open containers: '{' or '['
	maxDepth   int

	// Duplicate detection (RejectDuplicates): the folded names of every
	// open object, one after the other.
	dups   bool
	folded []byte
	ends   []int // end offset in folded of each name
	marks  []int // index in ends where each open object's names start
}

// New returns a Scanner over data that allows at most maxDepth nested
// arrays and objects (the outermost one counts as 1).
func New(data []byte, maxDepth int) *Scanner {
	return &Scanner{data: data, maxDepth: maxDepth}
}

// RejectDuplicates makes the Scanner fail with ErrDuplicate on a member name
// that equals, after Fold, another name of the same object, at any depth.
func (s *Scanner) RejectDuplicates() { s.dups = true }

// Pos is the offset of the next byte to read.
func (s *Scanner) Pos() int { return s.pos }

// Err is the first error met, if any.
func (s *Scanner) Err() error { return s.err }

func (s *Scanner) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("jsonscan: offset %d: "+format, append([]any{s.pos}, args...)...)
	}
}

func (s *Scanner) failErr(err error) {
	if s.err == nil {
		s.err = err
	}
}

func (s *Scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// Peek is the kind of the next value, without reading it; Invalid at the
// end of the input, on a byte no value starts with, or after an error.
func (s *Scanner) Peek() Kind {
	if s.err != nil {
		return Invalid
	}
	s.skipSpace()
	if s.pos >= len(s.data) {
		return Invalid
	}
	switch c := s.data[s.pos]; {
	case c == '"':
		return String
	case c == '{':
		return Object
	case c == '[':
		return Array
	case c == 't' || c == 'f':
		return Bool
	case c == 'n':
		return Null
	case c == '-' || c >= '0' && c <= '9':
		return Number
	}
	return Invalid
}

func (s *Scanner) begin(open byte) bool {
	if s.err != nil {
		return false
	}
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != open {
		s.fail("want %q", open)
		return false
	}
	if len(s.stack) >= s.maxDepth {
		s.fail("nested deeper than %d", s.maxDepth)
		return false
	}
	s.pos++
	s.stack = append(s.stack, open)
	s.afterValue = false
	if open == '{' && s.dups {
		s.marks = append(s.marks, len(s.ends))
	}
	return true
}

// BeginObject reads '{'.
func (s *Scanner) BeginObject() bool { return s.begin('{') }

// BeginArray reads '['.
func (s *Scanner) BeginArray() bool { return s.begin('[') }

// More reports whether the current object or array has another member or
// element, and reads the ',' before it.
func (s *Scanner) More() bool {
	if s.err != nil || len(s.stack) == 0 {
		s.fail("More outside an object or array")
		return false
	}
	s.skipSpace()
	if s.pos >= len(s.data) {
		s.fail("unexpected end")
		return false
	}
	c := s.data[s.pos]
	if c == '}' || c == ']' {
		return false
	}
	if !s.afterValue {
		return true
	}
	if c != ',' {
		s.fail("want ',' or the end of the %s", containerName(s.stack[len(s.stack)-1]))
		return false
	}
	s.pos++
	s.afterValue = false
	return true
}

func containerName(open byte) string {
	if open == '{' {
		return "object"
	}
	return "array"
}

// End reads the '}' or ']' that closes the current container.
func (s *Scanner) End() {
	if s.err != nil {
		return
	}
	if len(s.stack) == 0 {
		s.fail("End outside an object or array")
		return
	}
	open := s.stack[len(s.stack)-1]
	close := byte('}')
	if open == '[' {
		close = ']'
	}
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != close {
		s.fail("want %q", close)
		return
	}
	s.pos++
	s.stack = s.stack[:len(s.stack)-1]
	if open == '{' && s.dups {
		m := s.marks[len(s.marks)-1]
		s.marks = s.marks[:len(s.marks)-1]
		if m == 0 {
			s.folded = s.folded[:0]
		} else {
			s.folded = s.folded[:s.ends[m-1]]
		}
		s.ends = s.ends[:m]
	}
	s.afterValue = true
}

// Name reads a member name and the ':' after it.
func (s *Scanner) Name() Str {
	if s.err != nil {
		return Str{}
	}
	if len(s.stack) == 0 || s.stack[len(s.stack)-1] != '{' {
		s.fail("Name outside an object")
		return Str{}
	}
	s.skipSpace()
	name, ok := s.str()
	if !ok {
		return Str{}
	}
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		s.fail("want ':'")
		return Str{}
	}
	s.pos++
	if s.dups {
		s.checkDuplicate(name)
	}
	s.afterValue = false
	return name
}

func (s *Scanner) checkDuplicate(name Str) {
	start := len(s.folded)
	s.folded = name.AppendFolded(s.folded)
	f := s.folded[start:]
	m := s.marks[len(s.marks)-1]
	prev := 0
	if m > 0 {
		prev = s.ends[m-1]
	}
	for _, end := range s.ends[m:] {
		if string(s.folded[prev:end]) == string(f) {
			s.failErr(fmt.Errorf("%w %q", ErrDuplicate, name.Unquote(nil)))
			return
		}
		prev = end
	}
	s.ends = append(s.ends, len(s.folded))
}

// String reads a string value.
func (s *Scanner) String() Str {
	if s.err != nil {
		return Str{}
	}
	s.skipSpace()
	v, ok := s.str()
	if ok {
		s.afterValue = true
	}
	return v
}

// Number reads a number and returns its text (RFC 8259 section 6 grammar).
func (s *Scanner) Number() []byte {
	if s.err != nil {
		return nil
	}
	s.skipSpace()
	start := s.pos
	d := s.data
	i := s.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i++; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		}
	default:
		s.fail("want a number")
		return nil
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			s.pos = i
			s.fail("want a digit after '.'")
			return nil
		}
		for ; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			s.pos = i
			s.fail("want a digit in the exponent")
			return nil
		}
		for ; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		}
	}
	s.pos = i
	s.afterValue = true
	return d[start:i]
}

// Literal reads true, false or null and returns its kind.
func (s *Scanner) Literal() Kind {
	if s.err != nil {
		return Invalid
	}
	s.skipSpace()
	rest := s.data[s.pos:]
	for _, lit := range [...]struct {
		text string
		kind Kind
	}{{"true", Bool}, {"false", Bool}, {"null", Null}} {
		if len(rest) >= len(lit.text) && string(rest[:len(lit.text)]) == lit.text {
			s.pos += len(lit.text)
			s.afterValue = true
			return lit.kind
		}
	}
	s.fail("want a value")
	return Invalid
}

// Skip reads one value of any kind and discards it. Nested objects are
// checked for duplicate names when RejectDuplicates is on.
func (s *Scanner) Skip() {
	switch s.Peek() {
	case String:
		s.String()
	case Number:
		s.Number()
	case Bool, Null:
		s.Literal()
	case Object:
		if s.BeginObject() {
			for s.More() {
				s.Name()
				s.Skip()
			}
			s.End()
		}
	case Array:
		if s.BeginArray() {
			for s.More() {
				s.Skip()
			}
			s.End()
		}
	default:
		s.fail("want a value")
	}
}

// Finish checks that nothing but white space follows the value read and
// returns the first error met.
func (s *Scanner) Finish() error {
	if s.err != nil {
		return s.err
	}
	if len(s.stack) != 0 {
		s.fail("unclosed %s", containerName(s.stack[len(s.stack)-1]))
		return s.err
	}
	if !s.afterValue {
		s.fail("no value")
		return s.err
	}
	s.skipSpace()
	if s.pos != len(s.data) {
		s.fail("data after the value")
	}
	return s.err
}

// Valid reports whether data is one JSON text, as json.Valid does, nested
// at most maxDepth deep.
func Valid(data []byte, maxDepth int) bool {
	s := New(data, maxDepth)
	s.Skip()
	return s.Finish() == nil
}
