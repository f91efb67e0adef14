package apigw

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
)

// AuthorizerHandler is the authorizer as a function of the raw event, which
// tests call, and a lambda.Handler: the Lambda runtime library hands Invoke
// the event's bytes and sends back the bytes it returns, with no
// reflection, no decoding of the event into a json.RawMessage first and no
// json.Encoder on the way out.
type AuthorizerHandler func(ctx context.Context, raw json.RawMessage) (any, error)

// Invoke runs the authorizer on one event and encodes its response; the
// bytes are those json.Marshal gives for the same response.
func (h AuthorizerHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := h(ctx, payload)
	if err != nil {
		return nil, err
	}
	if r, ok := out.(events.APIGatewayV2CustomAuthorizerSimpleResponse); ok {
		if b, ok := appendSimpleResponse(make([]byte, 0, 384), r); ok {
			return b, nil
		}
	}
	return json.Marshal(out)
}

// appendSimpleResponse encodes an HTTP API simple response whose context is
// identityContext's (or empty) exactly as json.Marshal does; ok is false
// for any other context.
func appendSimpleResponse(dst []byte, r events.APIGatewayV2CustomAuthorizerSimpleResponse) ([]byte, bool) {
	dst = append(dst, `{"isAuthorized":`...)
	dst = strconv.AppendBool(dst, r.IsAuthorized)
	if len(r.Context) == 0 {
		return append(dst, '}'), true // context is omitempty
	}
	if len(r.Context) != len(identityKeys) {
		return dst, false
	}
	dst = append(dst, `,"context":`...)
	for i, k := range identityKeys {
		if i == 0 {
			dst = append(dst, '{')
		} else {
			dst = append(dst, ',')
		}
		dst = append(append(append(dst, '"'), k...), `":`...)
		switch v := r.Context[k].(type) {
		case string:
			dst = appendJSONString(dst, v)
		case int64:
			dst = strconv.AppendInt(dst, v, 10)
		default:
			return dst, false
		}
	}
	return append(dst, "}}"...), true
}

// appendJSONString appends s as json.Marshal encodes a string: printable
// ASCII other than '"', '\\', '<', '>' and '&' as it is, anything else
// through encoding/json.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	return append(append(append(dst, '"'), s...), '"')
}
