package apigw

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/authkit/lambda-auth/shared/jsonscan"
)

// MaxBodyBytes bounds every request body this service reads.
const MaxBodyBytes = 8 << 10

// header returns a request header; HTTP API lower-cases names, REST does not.
// When the name is not there in lower case but in two or more other
// spellings ("Authorization" and "AUTHORIZATION"), which one to read would
// be up to map order: it returns ambiguousHeader, a value every check
// refuses (no bearer token, no origin, no content type), so the request
// fails closed.
func header(h map[string]string, name string) string {
	if v, ok := h[name]; ok {
		return v
	}
	found, n := "", 0
	for k, v := range h {
		if strings.EqualFold(k, name) {
			found, n = v, n+1
		}
	}
	if n > 1 {
		return ambiguousHeader
	}
	return found
}

// ambiguousHeader is what header returns for a header given twice.
const ambiguousHeader = "\x00ambiguous"

// body returns the request body, decoded from base64 when API Gateway
// encoded it, and refuses oversized ones before decoding.
func body(req Request) ([]byte, error) {
	if len(req.Body) > base64.StdEncoding.EncodedLen(MaxBodyBytes) {
		return nil, &requestError{413, "payload_too_large", fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes)}
	}
	b := []byte(req.Body)
	if req.IsBase64Encoded {
		var err error
		if b, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			return nil, badRequest("request body is not valid base64")
		}
	}
	if len(b) > MaxBodyBytes {
		return nil, &requestError{413, "payload_too_large", fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes)}
	}
	return b, nil
}

// decodeJSON reads a JSON object body into dst: content type
// application/json, one object, known fields only. An empty body is
// allowed when emptyOK (the refresh cookie carries everything).
func decodeJSON(req Request, dst any, emptyOK bool) error {
	b, err := body(req)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 && emptyOK {
		return nil
	}
	ct := header(req.Headers, "content-type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return &requestError{415, "unsupported_media_type", "send a JSON body with Content-Type: application/json"}
	}
	// JSON is UTF-8 (RFC 8259 8.1); a body declared in another charset
	// would be read as something it is not.
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return &requestError{415, "unsupported_media_type", "JSON bodies are UTF-8: send Content-Type: application/json or application/json; charset=utf-8"}
	}
	if err := exactMembers(b, dst); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			return badRequest(fmt.Sprintf("field '%s' has the wrong type", typeErr.Field))
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return badRequest("request body has an unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return badRequest("request body is not a valid JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("request body has data after the JSON object")
	}
	return nil
}

// formMediaType is the body of OAuth 2.0 requests (RFC 6749 appendix B,
// RFC 7009 2.1, RFC 7662 2.1).
const formMediaType = "application/x-www-form-urlencoded"

// isForm reports whether the request declares a form body: the token
// endpoint then speaks RFC 6749 instead of the service's JSON.
func isForm(req Request) bool {
	mt, _, err := mime.ParseMediaType(header(req.Headers, "content-type"))
	return err == nil && mt == formMediaType
}

// decodeForm reads an application/x-www-form-urlencoded body in UTF-8
// (RFC 6749 appendix B). A parameter given twice is refused (RFC 6749 3.1
// and 3.2: "MUST NOT be included more than once"); parameters it does not
// know are the caller's to ignore (3.2: "MUST ignore unrecognized request
// parameters").
func decodeForm(req Request) (url.Values, error) {
	mt, params, err := mime.ParseMediaType(header(req.Headers, "content-type"))
	if err != nil || mt != formMediaType {
		return nil, &requestError{415, "unsupported_media_type", "send a form body with Content-Type: " + formMediaType}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, &requestError{415, "unsupported_media_type", "form bodies are UTF-8 (RFC 6749 appendix B)"}
	}
	b, err := body(req)
	if err != nil {
		return nil, err
	}
	values, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, badRequest("request body is not a valid form (application/x-www-form-urlencoded)")
	}
	for name, v := range values {
		if len(v) > 1 {
			return nil, badRequest("parameter " + name + " is given more than once (RFC 6749 3.2)")
		}
		if !utf8.ValidString(name) || !utf8.ValidString(v[0]) {
			return nil, badRequest("form parameters are UTF-8 (RFC 6749 appendix B)")
		}
	}
	return values, nil
}

// exactMembers refuses a body that encoding/json would read differently
// from other parsers: a member name given twice in any object, compared
// after case folding (encoding/json keeps the last one silently, where a
// WAF or a log rule may read the first), and a top-level name that only
// case-folds to a field of dst ("USERNAME" for "username": encoding/json
// matches names case-insensitively). RFC 8259 4: names within an object
// SHOULD be unique; a body that is ambiguous is refused, as the token's
// claims are (shared/token).
func exactMembers(b []byte, dst any) error {
	s := jsonscan.New(b, maxBodyDepth)
	s.RejectDuplicates()
	if !s.BeginObject() {
		return nil // not an object: the decoder says so
	}
	fields := jsonFields(reflect.TypeOf(dst))
	var folded [32]byte
	for s.More() {
		name := s.Name()
		if s.Err() != nil {
			break
		}
		if want, ok := fields[string(name.AppendFolded(folded[:0]))]; ok && !name.Is(want) {
			return badRequest(fmt.Sprintf("member '%s' is not spelled '%s'", clipName(name.String()), want))
		}
		s.Skip()
	}
	s.End()
	if err := s.Finish(); err != nil {
		if errors.Is(err, jsonscan.ErrDuplicate) {
			return badRequest("request body gives a member name more than once (names are compared ignoring case)")
		}
		return nil // not valid JSON: the decoder says so, in its words
	}
	return nil
}

// maxBodyDepth bounds the nesting exactMembers reads; deeper bodies are
// refused by it as invalid (none of the service's bodies nests).
const maxBodyDepth = 8

// jsonFields maps the case-folded json names of a struct's fields to their
// exact spelling.
func jsonFields(t reflect.Type) map[string]string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	out := map[string]string{}
	if t.Kind() != reflect.Struct {
		return out
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[jsonscan.Fold(name)] = name
	}
	return out
}

// clipName shortens a member name quoted back to the client.
func clipName(s string) string {
	s = Description(s)
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}
