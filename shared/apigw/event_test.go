package apigw

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/authkit/lambda-auth/scripts/testenv"
)

// The authorizer reads events in one pass (scanEvent) and falls back to
// encoding/json for any shape it does not read the same way. These tests
// hold the two to the same result.

// referenceEvent is how the authorizer read events before scanEvent.
func referenceEvent(raw []byte) (authorizerEvent, error) {
	var ev authorizerEvent
	err := json.Unmarshal(raw, &ev)
	ev.authorization = header(ev.Headers, "authorization")
	ev.Headers = nil
	return ev, err
}

var eventCases = []string{
	`{"version":"2.0","type":"REQUEST","routeArn":"arn:r","headers":{"authorization":"Bearer a.b.c","host":"x"}}`,
	`{"version":"2.0","type":"REQUEST","headers":{"Authorization":"Bearer a.b.c"}}`,
	`{"version":"2.0","type":"REQUEST","headers":{"authorization":"Bearer a","Authorization":"Bearer b"}}`,
	`{"version":"2.0","type":"REQUEST","headers":{"authorization":"Bearer a","authorization":"Bearer b"}}`,
	`{"version":"2.0","type":"REQUEST","headers":{"Authorization":"Bearer a","AUTHORIZATION":"Bearer b"}}`,
	`{"type":"REQUEST","methodArn":"arn:m","headers":{"Authorization":"Bearer a","AUTHORIZATION":"Bearer b"}}`,
	`{"version":"2.0","type":"REQUEST","headers":{"\u0061uthorization":"Bearer a"}}`,
	`{"version":"2.0","type":"REQUEST","headers":{"authorization":"Bearer \u0061.b.c"}}`,
	`{"version":"2.0","type":"REQUEST","headers":{"authorization":null}}`,
	`{"version":"2.0","type":"REQUEST","headers":{"authorization":5}}`,
	`{"version":"2.0","type":"REQUEST","headers":null}`,
	`{"version":"2.0","type":"REQUEST","headers":[]}`,
	`{"version":"2.0","Version":"1.0","type":"REQUEST"}`,
	`{"version":"1.0","version":"2.0","type":"REQUEST"}`,
	`{"VERSION":"2.0","type":"REQUEST"}`,
	`{"headerſ":{"authorization":"Bearer a"},"version":"2.0","type":"REQUEST"}`,
	`{"version":2,"type":"REQUEST"}`,
	`{"version":null,"type":"REQUEST"}`,
	`{"type":"TOKEN","methodArn":"arn:aws:execute-api:us-east-1:1:a/s/GET/x","authorizationToken":"Bearer a.b.c"}`,
	`{"type":"REQUEST","methodArn":"arn:m","headers":{"Authorization":"Bearer a.b.c"}}`,
	`{"version":"2.0","type":"REQUEST","requestContext":{"http":{"method":"GET"},"a":[1,{"b":null}]}}`,
	`{"version":"2.0","type":"REQUEST"} x`,
	`{"version":"2.0","type":"REQUEST",}`,
	`{"version":"2.0" "type":"REQUEST"}`,
	`[]`,
	``,
	`{"version":"2.0","type":"REQUEST","headers":{"authorization":"Bearer ` + "\xff" + `"}}`,
}

func sameEvent(t *testing.T, raw []byte) {
	t.Helper()
	want, wantErr := referenceEvent(raw)
	got, err := decodeEvent(raw)
	got.Headers = nil
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("%q: error %v, want %v", raw, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: got %+v, want %+v", raw, got, want)
	}
}

// TestDecodeEventHeaderGivenTwice: Authorization in two spellings, none of
// them lower case, is read as the ambiguous marker on every path, which no
// bearer check accepts.
func TestDecodeEventHeaderGivenTwice(t *testing.T) {
	for _, raw := range []string{
		`{"version":"2.0","type":"REQUEST","headers":{"Authorization":"Bearer a.b.c","AUTHORIZATION":"Bearer a.b.c"}}`,
		`{"type":"REQUEST","methodArn":"arn:m","headers":{"AuthoriZation":"Bearer a.b.c","Authorization":"Bearer a.b.c"}}`,
	} {
		ev, err := decodeEvent([]byte(raw))
		if err != nil || ev.authorization != ambiguousHeader {
			t.Errorf("%s: authorization %q, %v; want the ambiguous marker", raw, ev.authorization, err)
		}
	}
}

func TestDecodeEventMatchesEncodingJSON(t *testing.T) {
	for _, c := range eventCases {
		sameEvent(t, []byte(c))
	}
	for _, name := range []string{"authorizer", "authorizer-rest-request", "authorizer-rest-token"} {
		sameEvent(t, testenv.Event(t, name))
	}
}

// TestScanEventReadsSampleEvents: the HTTP API event (lower-case header
// names) and the REST TOKEN event take the one-pass path, not the fallback.
// A REST REQUEST event keeps the client's "Authorization" and is read by
// encoding/json.
func TestScanEventReadsSampleEvents(t *testing.T) {
	for _, name := range []string{"authorizer", "authorizer-rest-token"} {
		raw := testenv.Event(t, name, "REPLACE_WITH_ACCESS_TOKEN", "a.b.c")
		ev, ok := scanEvent(raw)
		if !ok {
			t.Fatalf("%s: not read in one pass", name)
		}
		if ev.Type == "" || ev.authorization == "" && ev.AuthorizationToken == "" {
			t.Errorf("%s: read %+v", name, ev)
		}
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, c := range eventCases {
		f.Add([]byte(c))
	}
	f.Add(testenv.Event(f, "authorizer"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		sameEvent(t, raw)
	})
}

// TestInvokeEncodesAsJSONMarshal: Invoke's bytes are those json.Marshal
// gives for the handler's response, for allow, deny, REST and odd strings.
func TestInvokeEncodesAsJSONMarshal(t *testing.T) {
	ctxs := []map[string]any{
		nil,
		{"sub": "u", "sid": "s", "jti": "j", "client_id": "web", "scope": "read write", "exp": int64(1795868100)},
		{"sub": "<&>\"\\\u2028é\xff\x01", "sid": "s", "jti": "j", "client_id": "web", "scope": "", "exp": int64(-1)},
		{"sub": "u", "other": 1},
	}
	var outs []any
	for _, c := range ctxs {
		outs = append(outs, events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: c != nil, Context: c})
	}
	outs = append(outs, policy("u", "Allow", "arn:x", ctxs[1]))
	for _, out := range outs {
		h := AuthorizerHandler(func(context.Context, json.RawMessage) (any, error) { return out, nil })
		got, err := h.Invoke(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(out)
		if string(got) != string(want) {
			t.Errorf("got %s, want %s", got, want)
		}
	}
	h := AuthorizerHandler(func(context.Context, json.RawMessage) (any, error) { return nil, errUnauthorized })
	if _, err := h.Invoke(context.Background(), nil); err != errUnauthorized {
		t.Errorf("error %v, want %v", err, errUnauthorized)
	}
}

func TestAsciiEqualFold(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{{"Headers", "headers", true}, {"headers", "headers", true}, {"header", "headers", false},
		{"h@aders", "h`aders", false}, {"AUTHORIZATION", "authorization", true}, {"authorizatio[", "authorizatio{", false}} {
		if got := asciiEqualFold([]byte(tc.a), tc.b); got != tc.want || got != strings.EqualFold(tc.a, tc.b) {
			t.Errorf("asciiEqualFold(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
