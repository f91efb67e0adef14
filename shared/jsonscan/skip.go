package jsonscan

// States of skipFast.
const (
	wantValue = iota
	wantName
	afterValue
)

// skipFast reads one value and discards it, checking it as Skip does but in
// one loop, without a call per member or element: how Skip reads what no
// duplicate check needs to see.
//
// It is one function of about 120 lines on purpose: a state machine
// (wantValue, wantName, afterValue) in one loop, which is what makes it
// fast; split into a function per state or per value kind, it would make
// the very calls it exists to avoid. It reads most of the authorizer's
// event on the warm path. Valid (FuzzValid, against encoding/json) runs
// through it.
func (s *Scanner) skipFast() {
	if s.failed {
		return
	}
	d := s.data
	i := s.pos
	base := s.depth
	state := wantValue
	fail := func(msg string) {
		s.pos = i
		s.fail("%s", msg)
	}
	for {
		if state == afterValue && s.depth == base {
			s.pos = i
			s.afterValue = true
			return
		}
		for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
			i++
		}
		if i >= len(d) {
			fail("unexpected end")
			return
		}
		c := d[i]
		switch state {
		case wantName:
			if c != '"' {
				fail("want a member name")
				return
			}
			end, _, bad := stringEnd(d, i+1)
			if bad != "" {
				i = end
				fail(bad)
				return
			}
			i = end + 1
			for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
				i++
			}
			if i >= len(d) || d[i] != ':' {
				fail("want ':'")
				return
			}
			i++
			state = wantValue
		case wantValue:
			state = afterValue
			switch {
			case c == '"':
				end, _, bad := stringEnd(d, i+1)
				if bad != "" {
					i = end
					fail(bad)
					return
				}
				i = end + 1
			case c == '{' || c == '[':
				if s.depth >= s.maxDepth {
					fail("nested too deep")
					return
				}
				s.push(c == '{')
				i++
				for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
					i++
				}
				if i < len(d) && (c == '{' && d[i] == '}' || c == '[' && d[i] == ']') {
					s.depth--
					i++
				} else if c == '{' {
					state = wantName
				} else {
					state = wantValue
				}
			case c == 't' || c == 'f' || c == 'n':
				lit := "null"
				if c == 't' {
					lit = "true"
				} else if c == 'f' {
					lit = "false"
				}
				if len(d)-i < len(lit) || string(d[i:i+len(lit)]) != lit {
					fail("want a value")
					return
				}
				i += len(lit)
			case c == '-' || c >= '0' && c <= '9':
				end, bad := numberEnd(d, i)
				if bad != "" {
					i = end
					fail(bad)
					return
				}
				i = end
			default:
				fail("want a value")
				return
			}
		case afterValue:
			object := s.inObject()
			switch {
			case c == ',':
				i++
				state = wantValue
				if object {
					state = wantName
				}
			case c == '}' && object, c == ']' && !object:
				s.depth--
				i++
			default:
				fail("want ',' or the end of the container")
				return
			}
		}
	}
}
