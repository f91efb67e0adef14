package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
)

// feedTables creates the Revocations and RevocationFeed tables of
// template.yaml under names of this test's own.
func feedTables(t *testing.T) (*dynamodb.Client, dynamo.Tables) {
	t.Helper()
	db := dynamodb.NewFromConfig(testenv.AWSConfig(t))
	defs := testenv.TableDefinitions(t)
	for id := range defs {
		if id != "RevocationsTable" && id != "RevocationFeedTable" {
			delete(defs, id)
		}
	}
	var b [6]byte
	rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	names, err := localaws.EnsureTables(context.Background(), db, defs, func(id string) string { return id + "-" + suffix })
	for _, name := range names {
		t.Cleanup(func() { db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &name}) })
	}
	if err != nil {
		t.Fatal(err)
	}
	return db, localaws.DynamoTables(names)
}

// TestCalibration holds the model against the local DynamoDB (DynamoDB
// Local: it answers ReturnConsumedCapacity TOTAL with the units AWS
// charges): the feed's real items, written by shared/dynamo, have the
// sizes the simulation gives them, and the units DynamoDB reports for
// Queries of them (strongly and eventually consistent, empty, across 4 KB
// boundaries) and for writing them are the model's.
func TestCalibration(t *testing.T) {
	ctx := context.Background()
	db, tables := feedTables(t)
	// Now, to the millisecond: items written in the past would carry an
	// expired TTL, and DynamoDB Local charges no read for an expired item.
	at := time.Now().Truncate(time.Millisecond)
	store := dynamo.New(db, tables, dynamo.WithClock(func() time.Time { return at }))
	key := at.Unix() - at.Unix()%300 // the bucket of at: dynamo.FeedKey(bucket, 0)

	// One revocation of each kind, as the service writes them.
	for _, kind := range []auth.RevocationKind{auth.RevokeToken, auth.RevokeSession, auth.RevokeUser} {
		s := shapes[kind]
		if err := store.PutRevocation(ctx, auth.NewRevocation(kind, s.value, at, s.reason)); err != nil {
			t.Fatalf("put %s: %v", kind, err)
		}
	}
	query := func(consistent bool, k int64) ([]map[string]types.AttributeValue, float64) {
		t.Helper()
		out, err := db.Query(ctx, &dynamodb.QueryInput{TableName: &tables.RevocationFeed, ConsistentRead: aws.Bool(consistent),
			KeyConditionExpression: aws.String("#b = :b"), ExpressionAttributeNames: map[string]string{"#b": "bucket"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":b": &types.AttributeValueMemberN{Value: fmt.Sprint(k)}},
			ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal})
		if err != nil {
			t.Fatalf("query: %v", err)
		}
		if out.ConsumedCapacity == nil || out.ConsumedCapacity.CapacityUnits == nil {
			t.Fatal("no ConsumedCapacity in the Query's answer: the local DynamoDB does not report units")
		}
		if out.LastEvaluatedKey != nil {
			t.Fatal("a second page: the test's items should fit in one")
		}
		return out.Items, *out.ConsumedCapacity.CapacityUnits
	}
	items, _ := query(true, key)
	if len(items) != 3 {
		t.Fatalf("%d feed items in bucket %d, want 3", len(items), key)
	}
	total := 0
	for _, it := range items {
		kind := auth.RevocationKind(it["kind"].(*types.AttributeValueMemberS).Value)
		got, want := ItemSize(it), shapeSize(kind, at, key)
		if got != want {
			t.Errorf("%s feed item: %d bytes as written by shared/dynamo, %d in the simulation's shape (%v)", kind, got, want, it)
		}
		total += got
	}

	// Items of the feed's own shape, as many as it takes to cross 4 KB
	// boundaries, in a key of their own; each write's units reported.
	big := int64(key*10000 + 7)
	model := items[0]
	var written []int
	for i := range 45 {
		it := map[string]types.AttributeValue{}
		for k, v := range model {
			it[k] = v
		}
		it["bucket"] = &types.AttributeValueMemberN{Value: fmt.Sprint(big)}
		it["sk"] = &types.AttributeValueMemberS{Value: fmt.Sprintf("%s#%03d", it["sk"].(*types.AttributeValueMemberS).Value, i)}
		if i == 44 { // one item past 1 KB: two write units
			it["reason"] = &types.AttributeValueMemberS{Value: strings.Repeat("r", 1100)}
		}
		out, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &tables.RevocationFeed, Item: it,
			ConditionExpression: aws.String("attribute_not_exists(sk)"), ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal})
		if err != nil {
			t.Fatalf("put: %v", err)
		}
		if out.ConsumedCapacity == nil || out.ConsumedCapacity.CapacityUnits == nil {
			t.Fatal("no ConsumedCapacity in the PutItem's answer")
		}
		if got, want := *out.ConsumedCapacity.CapacityUnits, WriteUnits(ItemSize(it)); got != want {
			t.Errorf("PutItem of a %d-byte item: %g write units reported, the model says %g", ItemSize(it), got, want)
		}
		written = append(written, ItemSize(it))
	}
	// The size rule to the byte: a real item padded (its reason) to
	// exactly 1 KB by the model is one write unit, one byte more two.
	for _, size := range []int{WriteUnitBytes, WriteUnitBytes + 1} {
		it := map[string]types.AttributeValue{}
		for k, v := range model {
			it[k] = v
		}
		it["bucket"] = &types.AttributeValueMemberN{Value: fmt.Sprint(big + 2)}
		it["sk"] = &types.AttributeValueMemberS{Value: fmt.Sprintf("%s#edge%d", it["sk"].(*types.AttributeValueMemberS).Value, size)}
		it["reason"] = &types.AttributeValueMemberS{Value: ""}
		it["reason"] = &types.AttributeValueMemberS{Value: strings.Repeat("r", size-ItemSize(it))}
		out, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &tables.RevocationFeed, Item: it,
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal})
		if err != nil {
			t.Fatalf("put: %v", err)
		}
		if got, want := *out.ConsumedCapacity.CapacityUnits, WriteUnits(ItemSize(it)); ItemSize(it) != size || got != want {
			t.Errorf("an item the model sizes at %d bytes (want %d): %g write units reported, the model says %g", ItemSize(it), size, got, want)
		}
	}
	bigTotal := 0
	for _, n := range written {
		bigTotal += n
	}
	empty := big + 1
	for _, c := range []struct {
		name       string
		key        int64
		bytes      int
		consistent bool
	}{
		{"the three kinds, strongly consistent", key, total, true},
		{"the three kinds, eventually consistent", key, total, false},
		{"45 items across 4 KB boundaries, strongly consistent", big, bigTotal, true},
		{"45 items, eventually consistent", big, bigTotal, false},
		{"an empty partition, strongly consistent", empty, 0, true},
		{"an empty partition, eventually consistent", empty, 0, false},
	} {
		_, got := query(c.consistent, c.key)
		want, _ := QueryUnits(c.bytes, !c.consistent)
		if c.bytes == 0 {
			// The one disagreement, pinned here so that it stays a known
			// one: DynamoDB Local reports 0 units for a Query that reads
			// nothing; the model charges the unit (half) of one read
			// request, as the issue measured on DynamoDB and as the AWS
			// page above prices a read request of "up to 4 KB". It is
			// the conservative choice (the floor cost of an empty feed,
			// one unit per reader per sync) and is stated in BENCHMARKS.md.
			if got != 0 || want != map[bool]float64{true: 1, false: 0.5}[c.consistent] {
				t.Errorf("%s: %g read units reported (DynamoDB Local says 0), model %g (1, or 0.5 eventually consistent)", c.name, got, want)
			}
			continue
		}
		if got != want {
			t.Errorf("%s (%d bytes): %g read units reported, the model says %g", c.name, c.bytes, got, want)
		}
		t.Logf("%s: %d bytes, %g read units (model %g)", c.name, c.bytes, got, want)
	}
}
