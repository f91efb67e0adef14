package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/scripts/testenv"
)

// TestHandTypedEntryIsEnforced: through scripts/dev (replica mode, the
// default), an entry put into the Revocations table with the SDK, as the
// DynamoDB console would, without the service, makes the authorizer deny
// that token within 2 s: jti#, sid# and sub# entries, each for a token of
// its own. The path is the table's stream, the emulated event source
// mapping and the revocation-feed function under aws-lambda-rie.
func TestHandTypedEntryIsEnforced(t *testing.T) {
	d := testenv.StartDev(t)
	if strings.Contains(d.Out.String()+d.ErrOut.String(), "event source mapping of RevocationFeedFunction not started") {
		t.Fatalf("scripts/dev did not start the Revocations stream mapping (needs DynamoDB Local):\n%s", d.ErrOut)
	}
	_, db := localaws.Clients(d.Vars["AWS_ENDPOINT_URL_KMS"], d.Vars["AWS_ENDPOINT_URL_DYNAMODB"])
	for _, kind := range []string{"jti", "sid", "sub"} {
		t.Run(kind, func(t *testing.T) {
			b := newBrowser(t, d.API)
			tok, _ := b.login(localapi.DemoUsername, localapi.DemoPassword)
			if me := b.do("GET", "/me", "", nil, bearer(tok)...); me.status != 200 {
				t.Fatalf("/me before: %d %s", me.status, me.body)
			}
			var claims struct{ Jti, Sid, Sub string }
			payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
			if err := json.Unmarshal(payload, &claims); err != nil {
				t.Fatal(err)
			}
			value := map[string]string{"jti": claims.Jti, "sid": claims.Sid, "sub": claims.Sub}[kind]
			item := map[string]types.AttributeValue{
				"pk":         &types.AttributeValueMemberS{Value: kind + "#" + value},
				"expires_at": &types.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)},
				"reason":     &types.AttributeValueMemberS{Value: "typed in the console (test)"},
			}
			if kind == "sub" { // sessions started up to now
				item["revoked_at"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().UnixMilli(), 10)}
			}
			put := time.Now()
			if _, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: new(d.Vars["REVOCATIONS_TABLE"]), Item: item}); err != nil {
				t.Fatal(err)
			}
			for {
				me := b.do("GET", "/me", "", nil, bearer(tok)...)
				if me.status == 401 || me.status == 403 {
					t.Logf("%s entry typed by hand: denied after %v", kind, time.Since(put).Round(time.Millisecond))
					break
				}
				if time.Since(put) > 2*time.Second {
					t.Fatalf("a %s entry typed by hand: /me still %d after 2 s\n%s\n%s", kind, me.status, d.ErrOut, tail(filepath.Join(d.State, "logs", "RevocationFeedFunction.log"), 20))
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
