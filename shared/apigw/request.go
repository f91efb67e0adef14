package apigw

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
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
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			return badRequest(fmt.Sprintf("field %q has the wrong type", typeErr.Field))
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
