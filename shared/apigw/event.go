package apigw

import (
	"encoding/json"

	"github.com/authkit/lambda-auth/shared/jsonscan"
)

// authorizerEvent holds the fields that tell the event kinds apart.
type authorizerEvent struct {
	Version            string            `json:"version"`
	Type               string            `json:"type"`
	MethodArn          string            `json:"methodArn"`
	AuthorizationToken string            `json:"authorizationToken"`
	Headers            map[string]string `json:"headers"`
	RouteKey           string            `json:"routeKey"` // HTTP API: "METHOD /path", for step-up rules

	authorization string // the Authorization header: header(Headers, "authorization")
}

// decodeEvent reads an authorizer event. The plain shape API Gateway sends
// is read in one pass by scanEvent; anything else (an escaped or non-ASCII
// name, a duplicate or differently cased field, a value of another type,
// invalid JSON) goes through encoding/json as before, so both read every
// event the same way.
func decodeEvent(raw []byte) (authorizerEvent, error) {
	if ev, ok := scanEvent(raw); ok {
		return ev, nil
	}
	var ev authorizerEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return ev, err
	}
	ev.authorization = header(ev.Headers, "authorization")
	return ev, nil
}

// eventFields are the top-level fields of authorizerEvent, in the bit order
// of scanEvent's seen mask.
var eventFields = [...]string{"version", "type", "methodArn", "authorizationToken", "headers", "routeKey"}

// eventField is the index in eventFields of name, or -1.
func eventField(name []byte) int {
	switch string(name) {
	case "version":
		return 0
	case "type":
		return 1
	case "methodArn":
		return 2
	case "authorizationToken":
		return 3
	case "headers":
		return 4
	case "routeKey":
		return 5
	}
	return -1
}

// scanEvent reads the plain shape of an authorizer event; ok is false for
// any other, which the caller then decodes with encoding/json.
func scanEvent(raw []byte) (ev authorizerEvent, ok bool) {
	s := jsonscan.New(raw, 64)
	if !s.BeginObject() {
		return ev, false
	}
	seen := 0
	for s.More() {
		name := s.Name()
		if !name.ASCII() {
			return ev, false // encoding/json folds non-ASCII names ("headerſ" is headers)
		}
		field := eventField(name.Raw())
		if field < 0 {
			for _, f := range eventFields {
				if asciiEqualFold(name.Raw(), f) {
					return ev, false // encoding/json would read it into the field
				}
			}
			s.Skip()
			continue
		}
		if seen&(1<<field) != 0 {
			return ev, false // encoding/json keeps the last one
		}
		seen |= 1 << field
		var ok bool
		switch field {
		case 0:
			ev.Version, ok = scanString(&s, "2.0", "1.0")
		case 1:
			ev.Type, ok = scanString(&s, "REQUEST", "TOKEN")
		case 2:
			ev.MethodArn, ok = scanString(&s)
		case 3:
			ev.AuthorizationToken, ok = scanString(&s)
		case 4:
			ev.authorization, ok = scanHeaders(&s)
		case 5:
			ev.RouteKey, ok = scanString(&s)
		}
		if !ok {
			return ev, false
		}
	}
	s.End()
	return ev, s.Finish() == nil
}

// scanString reads a string field; null leaves it empty, as encoding/json
// does. A value among common is returned without allocating.
func scanString(s *jsonscan.Scanner, common ...string) (string, bool) {
	switch s.Peek() {
	case jsonscan.String:
		v := s.String()
		for _, c := range common {
			if v.Plain() && string(v.Raw()) == c {
				return c, s.Err() == nil
			}
		}
		return v.String(), s.Err() == nil
	case jsonscan.Null:
		s.Literal()
		return "", s.Err() == nil
	}
	return "", false
}

// scanHeaders reads the headers object and returns the value of the one
// named exactly "authorization" (API Gateway lower-cases names for HTTP
// APIs). A header named so in another case, or twice, is left to
// encoding/json and header().
func scanHeaders(s *jsonscan.Scanner) (string, bool) {
	switch s.Peek() {
	case jsonscan.Null:
		s.Literal()
		return "", s.Err() == nil
	case jsonscan.Object:
	default:
		return "", false
	}
	s.BeginObject()
	var auth string
	found := false
	for s.More() {
		name := s.Name()
		if !name.ASCII() || s.Peek() != jsonscan.String {
			return "", false
		}
		switch {
		case string(name.Raw()) == "authorization":
			if found {
				return "", false
			}
			auth, found = s.String().String(), true
		case asciiEqualFold(name.Raw(), "authorization"):
			return "", false
		default:
			s.Skip()
		}
	}
	s.End()
	return auth, s.Err() == nil
}

// asciiEqualFold is strings.EqualFold for an ASCII b.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i, c := range b {
		d := s[i]
		if c|0x20 != d|0x20 || c|0x20 < 'a' || c|0x20 > 'z' {
			if c != d {
				return false
			}
		}
	}
	return true
}
