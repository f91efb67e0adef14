package apigw

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/authkit/lambda-auth/shared/token"
)

// TestIdentityContextEncoding: the context keys are listed once, sorted as
// encoding/json sorts them, and the hand-written encoding of the
// authorizer's simple response is byte for byte json.Marshal's.
func TestIdentityContextEncoding(t *testing.T) {
	c := &token.Claims{SessionID: "s\"1", ClientID: "web", Scope: "read <write>"}
	c.Subject, c.ID = "u-1", "j\\1"
	c.ExpiresAt = token.NumericDate(time.Unix(1796000000, 0))
	ctx := identityContext(c)
	keys := slices.Sorted(maps.Keys(ctx))
	if !slices.Equal(keys, identityKeys[:]) {
		t.Fatalf("identityKeys %v, identityContext's keys %v", identityKeys, keys)
	}
	r := events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: ctx}
	got, ok := appendSimpleResponse(nil, r)
	want, _ := json.Marshal(r)
	if !ok || string(got) != string(want) {
		t.Fatalf("hand-written %s (%v)\njson.Marshal %s", got, ok, want)
	}
	id, err := IdentityFrom(Request{RequestContext: events.APIGatewayV2HTTPRequestContext{
		Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: roundTrip(t, ctx)}}})
	if err != nil || id.Subject != c.Subject || id.SessionID != c.SessionID || id.TokenID != c.ID ||
		id.ClientID != c.ClientID || id.Scope != c.Scope || id.ExpiresAt != c.ExpiresAt.Unix() {
		t.Fatalf("IdentityFrom(identityContext) = %+v, %v", id, err)
	}
}

func roundTrip(t *testing.T, m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
