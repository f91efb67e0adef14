package localaws_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/scripts/testenv"
)

// streamTable is a table definition as template.yaml gives one with
// StreamSpecification and TimeToLiveSpecification.
func streamTable(view ddbtypes.StreamViewType) localapi.Table {
	in := dynamodb.CreateTableInput{
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
	}
	if view != "" {
		in.StreamSpecification = &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: view}
	}
	return localapi.Table{CreateTableInput: in, TTLAttribute: "expires_at"}
}

// TestEnsureTablesStreamAndTTL: on DynamoDB Local, a definition with a
// stream gets a table with that stream and its TTL on; ensuring it again
// changes nothing; a table kept without the stream gets it turned on; a
// stream of another view type is ErrMismatch.
func TestEnsureTablesStreamAndTTL(t *testing.T) {
	db := dynamodb.NewFromConfig(testenv.AWSConfig(t))
	ctx := context.Background()
	suffix := testenv.New(t).Tables.Users // a name no other test uses
	name := func(id string) string { return id + "-" + suffix }
	t.Cleanup(func() {
		for _, id := range []string{"Streamed", "Kept"} {
			db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name(id))})
		}
	})
	check := func(id string, view ddbtypes.StreamViewType) {
		t.Helper()
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name(id))})
		if err != nil {
			t.Fatal(err)
		}
		st := out.Table.StreamSpecification
		if st == nil || !aws.ToBool(st.StreamEnabled) || st.StreamViewType != view || out.Table.LatestStreamArn == nil {
			t.Errorf("%s: stream %+v (ARN %v), want enabled %s", id, st, aws.ToString(out.Table.LatestStreamArn), view)
		}
		ttl, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name(id))})
		if err != nil {
			t.Fatal(err)
		}
		if d := ttl.TimeToLiveDescription; d == nil || d.TimeToLiveStatus != ddbtypes.TimeToLiveStatusEnabled || aws.ToString(d.AttributeName) != "expires_at" {
			t.Errorf("%s: TTL %+v, want ENABLED on expires_at", id, d)
		}
	}

	streamed := map[string]localapi.Table{"Streamed": streamTable(ddbtypes.StreamViewTypeNewAndOldImages)}
	for range 2 { // the second time, the table exists
		names, err := localaws.EnsureTables(ctx, db, streamed, name)
		if err != nil || names["Streamed"] != name("Streamed") {
			t.Fatalf("EnsureTables: %v %v", names, err)
		}
		check("Streamed", ddbtypes.StreamViewTypeNewAndOldImages)
	}

	if _, err := localaws.EnsureTables(ctx, db, map[string]localapi.Table{"Kept": streamTable("")}, name); err != nil {
		t.Fatal(err)
	}
	if _, err := localaws.EnsureTables(ctx, db, map[string]localapi.Table{"Kept": streamTable(ddbtypes.StreamViewTypeNewAndOldImages)}, name); err != nil {
		t.Fatalf("EnsureTables adding a stream: %v", err)
	}
	check("Kept", ddbtypes.StreamViewTypeNewAndOldImages)

	_, err := localaws.EnsureTables(ctx, db, map[string]localapi.Table{"Kept": streamTable(ddbtypes.StreamViewTypeKeysOnly)}, name)
	if !errors.Is(err, localaws.ErrMismatch) {
		t.Errorf("EnsureTables with another stream view type: %v, want ErrMismatch", err)
	}
}
