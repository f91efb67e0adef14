package token

import "strings"

// Bearer takes the access token from an Authorization header value (RFC
// 6750 2.1). It is strict on purpose: exactly "Bearer", one space, and a
// token of at most MaxTokenBytes without spaces, controls of the header
// syntax or commas (RFC 6750 2.1 b64token); anything else is not something
// our clients send. The API Gateway authorizer and shared/guard both read
// the header with it.
func Bearer(h string) (string, bool) {
	t, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || t == "" || len(t) > MaxTokenBytes {
		return "", false
	}
	i := 0
	for ; i+8 <= len(t); i += 8 { // eight at a time: tokens are long
		if notInToken[t[i]] || notInToken[t[i+1]] || notInToken[t[i+2]] || notInToken[t[i+3]] ||
			notInToken[t[i+4]] || notInToken[t[i+5]] || notInToken[t[i+6]] || notInToken[t[i+7]] {
			return "", false
		}
	}
	for ; i < len(t); i++ {
		if notInToken[t[i]] {
			return "", false
		}
	}
	return t, true
}

// notInToken are the bytes Bearer refuses: space, tab, CR, LF and ','.
var notInToken = [256]bool{' ': true, '\t': true, '\r': true, '\n': true, ',': true}
