package jsonscan

import (
	"encoding/binary"
	"math/bits"
	"strings"
	"unicode/utf8"
)

// Str is a JSON string as it appears in the input, between its quotes.
type Str struct {
	raw      []byte
	off      int  // offset of raw in the input
	escaped  bool // holds a backslash escape
	nonASCII bool // holds a byte >= 0x80
}

// Raw is the text between the quotes, escapes not decoded.
func (v Str) Raw() []byte { return v.raw }

// Offset is where Raw starts in the input.
func (v Str) Offset() int { return v.off }

// ASCII reports whether the string is plain printable ASCII: no escapes
// and no byte >= 0x80.
func (v Str) ASCII() bool { return !v.escaped && !v.nonASCII }

// Plain reports whether the decoded string is the raw text itself: no
// escapes and valid UTF-8.
func (v Str) Plain() bool { return !v.escaped && (!v.nonASCII || utf8.Valid(v.raw)) }

// Is reports whether the decoded string equals lit.
func (v Str) Is(lit string) bool {
	if v.Plain() {
		return string(v.raw) == lit
	}
	var buf [64]byte
	return string(v.Unquote(buf[:0])) == lit
}

// Unquote appends the decoded string to dst, as encoding/json decodes it:
// escapes resolved, a valid surrogate pair joined, and each lone surrogate
// and each byte of invalid UTF-8 replaced by U+FFFD.
func (v Str) Unquote(dst []byte) []byte {
	if v.Plain() {
		return append(dst, v.raw...)
	}
	s := v.raw
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			// The scanner checked the escape's syntax.
			switch s[r+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := hex4(s[r+2:])
				r += 6
				if utf16IsSurrogate(rr) {
					if r+6 <= len(s) && s[r] == '\\' && s[r+1] == 'u' {
						if dec := utf16DecodeRune(rr, hex4(s[r+2:])); dec != utf8.RuneError {
							r += 6
							dst = utf8.AppendRune(dst, dec)
							continue
						}
					}
					rr = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, s[r+1])
			}
			r += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			dst = utf8.AppendRune(dst, rr)
		}
	}
	return dst
}

// String is the decoded string.
func (v Str) String() string {
	if v.Plain() {
		return string(v.raw)
	}
	return string(v.Unquote(nil))
}

// AppendFolded appends Fold of the decoded string to dst.
func (v Str) AppendFolded(dst []byte) []byte {
	if !v.escaped && !v.nonASCII {
		for _, c := range v.raw {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		}
		return dst
	}
	var buf [64]byte
	return append(dst, Fold(string(v.Unquote(buf[:0])))...)
}

// Fold maps a decoded member name to a form in which every spelling that
// encoding/json takes for the same struct field is equal: upper case, then
// lower case ("EXP", "Exp" and "exp" fold to "exp"; so do "ſub" and "sub",
// U+017F being the long s).
func Fold(name string) string { return strings.ToLower(strings.ToUpper(name)) }

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// utf16IsSurrogate and utf16DecodeRune are unicode/utf16's, which this
// package does not import for two functions.
func utf16IsSurrogate(r rune) bool { return 0xd800 <= r && r < 0xe000 }

func utf16DecodeRune(r1, r2 rune) rune {
	if 0xd800 <= r1 && r1 < 0xdc00 && 0xdc00 <= r2 && r2 < 0xe000 {
		return (r1-0xd800)<<10 | (r2 - 0xdc00) + 0x10000
	}
	return utf8.RuneError
}

// Classes of bytes in a string.
const (
	plainByte   = iota // printable ASCII other than '"' and '\\'
	highByte           // >= 0x80, part of UTF-8 (or not)
	quoteByte          // '"'
	escapeByte         // '\\'
	controlByte        // < 0x20: not allowed
)

var strClass = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c < 0x20:
			t[c] = controlByte
		case c == '"':
			t[c] = quoteByte
		case c == '\\':
			t[c] = escapeByte
		case c >= 0x80:
			t[c] = highByte
		}
	}
	return t
}()

// str reads a string token at pos: '"', characters, '"'.
func (s *Scanner) str() (Str, bool) {
	d := s.data
	i := s.pos
	if i >= len(d) || d[i] != '"' {
		s.fail("want a string")
		return Str{}, false
	}
	end, flags, bad := stringEnd(d, i+1)
	if bad != "" {
		s.pos = end
		s.fail("%s", bad)
		return Str{}, false
	}
	s.pos = end + 1
	return Str{raw: d[i+1 : end], off: i + 1, escaped: flags&hasEscape != 0, nonASCII: flags&hasHigh != 0}, true
}

const (
	hasEscape = 1 << iota
	hasHigh
)

// stringEnd finds the closing quote of a string whose characters start at
// i, checking escapes and refusing control characters. On failure bad says
// why and end is where.
func stringEnd(d []byte, i int) (end int, flags uint8, bad string) {
	for {
		// Eight bytes at a time: skip them if none needs a look, else go
		// to the first that does.
		if i+8 <= len(d) {
			m := specialBytes(binary.LittleEndian.Uint64(d[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		} else {
			for i < len(d) && strClass[d[i]] == plainByte {
				i++
			}
			if i >= len(d) {
				return len(d), flags, "unterminated string"
			}
		}
		switch strClass[d[i]] {
		case quoteByte:
			return i, flags, ""
		case highByte:
			flags |= hasHigh
			i++
		case escapeByte:
			if i+1 >= len(d) {
				return i, flags, "unfinished escape"
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(d) || !isHex(d[i+2]) || !isHex(d[i+3]) || !isHex(d[i+4]) || !isHex(d[i+5]) {
					return i, flags, `bad \u escape`
				}
				i += 6
			default:
				return i, flags, "bad escape"
			}
			flags |= hasEscape
		default:
			return i, flags, "control character in a string"
		}
	}
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// specialBytes has the high bit set in the lowest byte of w (read little
// endian) that is a quote, a backslash, a control character or >= 0x80,
// and is zero if there is none (bit tricks from "Bit Twiddling Hacks": a
// byte less than n, a byte equal to b). Bytes above the lowest flagged one
// may be flagged wrongly; the lowest flagged one is exact.
func specialBytes(w uint64) uint64 {
	less := (w - ones*0x20) &^ w
	quote := w ^ (ones * '"')
	backslash := w ^ (ones * '\\')
	return (less | (quote-ones)&^quote | (backslash-ones)&^backslash | w) & highs
}
