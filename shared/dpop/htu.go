package dpop

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// maxURIBytes bounds the URIs compared (a proof's htu, the request's URL).
const maxURIBytes = 4096

// NormalizeURI returns the form in which Verify compares a proof's htu with
// the request's URL: RFC 9449 4.3 step 9 ignores the query and the fragment
// and asks for the syntax-based and scheme-based normalisation of RFC 3986
// 6.2.2 and 6.2.3, which here is:
//
//   - scheme and host in lower case (6.2.2.1); http and https only, no
//     user information;
//   - the port dropped when it is the scheme's default (6.2.3), written
//     without leading zeros otherwise;
//   - in the path, percent-encoded unreserved characters decoded (6.2.2.2),
//     other percent-encodings in upper case (6.2.2.1), and any byte a path
//     may not hold percent-encoded (RFC 3987 3.1, an IRI's mapping);
//   - dot segments removed (6.2.2.3, with RFC 3986 5.2.4) and an empty
//     path written "/" (6.2.3).
func NormalizeURI(s string) (string, error) {
	var buf [256]byte
	b, err := appendNormalized(buf[:0], s)
	if err != nil {
		return "", err
	}
	if string(b) == s {
		return s, nil
	}
	return string(b), nil
}

// appendNormalized appends NormalizeURI(s) to b: the scheme and authority
// of s, then its path, each normalised as RFC 3986 6.2.2 and 6.2.3 say.
func appendNormalized(b []byte, s string) ([]byte, error) {
	scheme, defaultPort, authority, path, err := splitURI(s)
	if err != nil {
		return nil, err
	}
	host, port, err := splitAuthority(authority)
	if err != nil {
		return nil, err
	}
	if port, err = normalizePort(port, defaultPort); err != nil {
		return nil, err
	}
	// 6.2.2.1: the scheme (lowered by splitURI) and host in lower case.
	b = append(b, scheme...)
	b = append(b, "://"...)
	b = appendLower(b, host)
	if port != "" {
		b = append(append(b, ':'), port...)
	}
	// 6.2.2.1 and 6.2.2.2: percent-encoding in the path.
	start := len(b)
	b, err = appendPath(b, path)
	if err != nil {
		return nil, err
	}
	// 6.2.2.3: dot segments removed.
	if bytes.IndexByte(b[start:], '.') >= 0 {
		b = append(b[:start], removeDotSegments(string(b[start:]))...)
	}
	// 6.2.3: an empty path is "/".
	if len(b) == start {
		b = append(b, '/')
	}
	return b, nil
}

// splitURI splits s, an absolute http or https URI, into its scheme in
// lower case (RFC 3986 6.2.2.1), that scheme's default port, its authority
// and its path, ignoring the query and the fragment (RFC 9449 4.3 step 9).
func splitURI(s string) (scheme, defaultPort, authority, path string, err error) {
	if len(s) > maxURIBytes {
		return "", "", "", "", errors.New("URI too long")
	}
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[:i]
	}
	colon := strings.Index(s, "://")
	if colon <= 0 {
		return "", "", "", "", errors.New("not an absolute URI with an authority")
	}
	scheme = strings.ToLower(s[:colon])
	switch scheme {
	case "https":
		defaultPort = "443"
	case "http":
		defaultPort = "80"
	default:
		return "", "", "", "", errors.New("scheme is neither https nor http")
	}
	authority = s[colon+3:]
	if i := strings.IndexByte(authority, '/'); i >= 0 {
		authority, path = authority[:i], authority[i:]
	}
	return scheme, defaultPort, authority, path, nil
}

// splitAuthority splits an authority into its host, a DNS name or an IP
// literal (RFC 3986 3.2.2), and its port, "" if none. User information is
// refused: an '@' is in no valid host or port.
func splitAuthority(authority string) (host, port string, err error) {
	host = authority
	if strings.HasPrefix(authority, "[") { // IPv6 literal (RFC 3986 3.2.2)
		end := strings.IndexByte(authority, ']')
		if end < 0 {
			return "", "", errors.New("unclosed IP literal")
		}
		host = authority[:end+1]
		switch after := authority[end+1:]; {
		case after == "":
		case after[0] == ':':
			port = after[1:]
		default:
			return "", "", errors.New("bytes after the IP literal")
		}
	} else if i := strings.LastIndexByte(authority, ':'); i >= 0 {
		host, port = authority[:i], authority[i+1:]
	}
	if host == "" || !validHost(host) {
		return "", "", errors.New("host is not a DNS name or IP literal")
	}
	return host, port, nil
}

// normalizePort writes port without leading zeros, and as "" when it is
// the scheme's default (RFC 3986 6.2.3).
func normalizePort(port, defaultPort string) (string, error) {
	if port == "" {
		return "", nil
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return "", errors.New("port is not a number")
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", errors.New("port out of range")
	}
	if port = strconv.FormatUint(p, 10); port == defaultPort {
		return "", nil
	}
	return port, nil
}

// validHost reports whether h is a bracketed IP literal of hex digits, ':'
// and '.', or a name of letters, digits, '-', '.' and '_'.
func validHost(h string) bool {
	if h[0] == '[' {
		if len(h) < 3 {
			return false
		}
		for i := 1; i < len(h)-1; i++ {
			if c := h[i]; !(isHex(c) || c == ':' || c == '.') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(isAlnum(c) || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// appendPath appends path with its percent-encoding normalised.
func appendPath(b []byte, path string) ([]byte, error) {
	const hexUpper = "0123456789ABCDEF"
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c == '%' {
			if i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2]) {
				return nil, errors.New("bad percent-encoding in the path")
			}
			d := unhex(path[i+1])<<4 | unhex(path[i+2])
			i += 2
			if isUnreserved(d) {
				b = append(b, d)
			} else {
				b = append(b, '%', hexUpper[d>>4], hexUpper[d&15])
			}
			continue
		}
		if isPathChar(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
		}
	}
	return b, nil
}

// removeDotSegments is RFC 3986 5.2.4.
func removeDotSegments(in string) string {
	if !strings.Contains(in, ".") {
		return in
	}
	var out []string // segments, each with its leading '/'
	for in != "" {
		switch {
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"):
			in = in[3:]
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "/..":
			in = "/"
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "." || in == "..":
			in = ""
		default:
			i := 0
			if in[0] == '/' {
				i = 1
			}
			j := strings.IndexByte(in[i:], '/')
			if j < 0 {
				j = len(in)
			} else {
				j += i
			}
			out = append(out, in[:j])
			in = in[j:]
		}
	}
	return strings.Join(out, "")
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// isUnreserved is RFC 3986 2.3.
func isUnreserved(c byte) bool {
	return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~'
}

// isPathChar is a byte a path holds as is (RFC 3986 3.3: pchar and '/').
func isPathChar(c byte) bool {
	if isUnreserved(c) {
		return true
	}
	switch c {
	case '/', ':', '@', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=':
		return true
	}
	return false
}
