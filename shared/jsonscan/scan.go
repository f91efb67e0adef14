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
	failed     bool // x.err holds why
	afterValue bool // a value was just read inside the current container
	maxDepth   int

	// The open containers: depth of them, bit i of objects set when the
	// one at depth i+1 is an object (deeper than 64: in x.deepObjects).
	depth   int
	objects uint64

	// What grows lives apart, so that appending to it does not make the
	// compiler move a caller's Scanner, and the data it reads, to the heap.
	x *extra
}

type extra struct {
	err         error
	deepObjects []bool

	// Duplicate detection (RejectDuplicates): the folded names of every
	// open object, one after the other.
	dups   bool
	folded []byte
	ends   []int // end offset in folded of each name
	marks  []int // index in ends where each open object's names start

	// Room for a small document's names, so that one allocation does.
	foldedBuf [128]byte
	endsBuf   [16]int
	marksBuf  [8]int
}

// New returns a Scanner over data that allows at most maxDepth nested
// arrays and objects (the outermost one counts as 1). It is a value, so that
// a caller's Scanner can live on its stack.
func New(data []byte, maxDepth int) Scanner {
	return Scanner{data: data, maxDepth: maxDepth}
}

// RejectDuplicates makes the Scanner fail with ErrDuplicate on a member name
// that equals, after Fold, another name of the same object, at any depth.
func (s *Scanner) RejectDuplicates() {
	if s.x == nil {
		s.x = new(extra)
	}
	x := s.x
	x.dups = true
	x.folded, x.ends, x.marks = x.foldedBuf[:0], x.endsBuf[:0], x.marksBuf[:0]
}

func (s *Scanner) dups() bool { return s.x != nil && s.x.dups }

func (s *Scanner) push(object bool) {
	if s.depth < 64 {
		if object {
			s.objects |= 1 << s.depth
		} else {
			s.objects &^= 1 << s.depth
		}
	} else {
		if s.x == nil {
			s.x = new(extra)
		}
		s.x.deepObjects = append(s.x.deepObjects[:s.depth-64], object)
	}
	s.depth++
}

// inObject reports whether the innermost open container is an object.
func (s *Scanner) inObject() bool {
	if d := s.depth - 1; d < 64 {
		return s.objects&(1<<d) != 0
	}
	return s.x.deepObjects[s.depth-1-64]
}

// Pos is the offset of the next byte to read.
func (s *Scanner) Pos() int { return s.pos }

// Err is the first error met, if any.
func (s *Scanner) Err() error {
	if !s.failed {
		return nil
	}
	return s.x.err
}

func (s *Scanner) fail(format string, args ...any) {
	if !s.failed {
		s.failErr(fmt.Errorf("jsonscan: offset %d: "+format, append([]any{s.pos}, args...)...))
	}
}

func (s *Scanner) failErr(err error) {
	if s.failed {
		return
	}
	if s.x == nil {
		s.x = new(extra)
	}
	s.x.err, s.failed = err, true
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
	if s.failed {
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
	if s.failed {
		return false
	}
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != open {
		s.fail("want %q", open)
		return false
	}
	if s.depth >= s.maxDepth {
		s.fail("nested deeper than %d", s.maxDepth)
		return false
	}
	s.pos++
	s.push(open == '{')
	s.afterValue = false
	if open == '{' && s.dups() {
		s.x.marks = append(s.x.marks, len(s.x.ends))
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
	if s.failed || s.depth == 0 {
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
		s.fail("want ',' or the end of the %s", s.containerName())
		return false
	}
	s.pos++
	s.afterValue = false
	return true
}

func (s *Scanner) containerName() string {
	if s.inObject() {
		return "object"
	}
	return "array"
}

// End reads the '}' or ']' that closes the current container.
func (s *Scanner) End() {
	if s.failed {
		return
	}
	if s.depth == 0 {
		s.fail("End outside an object or array")
		return
	}
	object := s.inObject()
	close := byte(']')
	if object {
		close = '}'
	}
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != close {
		s.fail("want %q", close)
		return
	}
	s.pos++
	s.depth--
	if object && s.dups() {
		x := s.x
		m := x.marks[len(x.marks)-1]
		x.marks = x.marks[:len(x.marks)-1]
		if m == 0 {
			x.folded = x.folded[:0]
		} else {
			x.folded = x.folded[:x.ends[m-1]]
		}
		x.ends = x.ends[:m]
	}
	s.afterValue = true
}

// Name reads a member name and the ':' after it.
func (s *Scanner) Name() Str {
	if s.failed {
		return Str{}
	}
	if s.depth == 0 || !s.inObject() {
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
	if s.dups() {
		s.x.checkDuplicate(s, name)
	}
	s.afterValue = false
	return name
}

func (x *extra) checkDuplicate(s *Scanner, name Str) {
	start := len(x.folded)
	x.folded = name.AppendFolded(x.folded)
	f := x.folded[start:]
	m := x.marks[len(x.marks)-1]
	prev := 0
	if m > 0 {
		prev = x.ends[m-1]
	}
	for _, end := range x.ends[m:] {
		if string(x.folded[prev:end]) == string(f) {
			s.failErr(fmt.Errorf("%w %q", ErrDuplicate, name.String()))
			return
		}
		prev = end
	}
	x.ends = append(x.ends, len(x.folded))
}

// String reads a string value.
func (s *Scanner) String() Str {
	if s.failed {
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
	if s.failed {
		return nil
	}
	s.skipSpace()
	start := s.pos
	end, bad := numberEnd(s.data, start)
	if bad != "" {
		s.pos = end
		s.fail("%s", bad)
		return nil
	}
	s.pos = end
	s.afterValue = true
	return s.data[start:end]
}

// numberEnd finds the end of the number starting at i.
func numberEnd(d []byte, i int) (int, string) {
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
		return i, "want a number"
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return i, "want a digit after '.'"
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
			return i, "want a digit in the exponent"
		}
		for ; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		}
	}
	return i, ""
}

// Literal reads true, false or null and returns its kind.
func (s *Scanner) Literal() Kind {
	if s.failed {
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
	if !s.dups() {
		s.skipFast()
		return
	}
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
	switch {
	case s.failed:
	case s.depth != 0:
		s.fail("unclosed %s", s.containerName())
	case !s.afterValue:
		s.fail("no value")
	default:
		s.skipSpace()
		if s.pos != len(s.data) {
			s.fail("data after the value")
		}
	}
	return s.Err()
}

// Valid reports whether data is one JSON text, as json.Valid does, nested
// at most maxDepth deep.
func Valid(data []byte, maxDepth int) bool {
	s := New(data, maxDepth)
	s.Skip()
	return s.Finish() == nil
}
