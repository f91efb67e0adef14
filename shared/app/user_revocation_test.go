package app_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
)

// TestUserRevocationNeverGoesBack: a newer user entry typed by hand in
// seconds is not replaced by an older instant in milliseconds.
func TestUserRevocationNeverGoesBack(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	future := time.Now().Add(time.Hour)
	_, err := env.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &env.Tables.Revocations, Item: map[string]types.AttributeValue{
		"pk":         &types.AttributeValueMemberS{Value: "sub#u1"},
		"revoked_at": &types.AttributeValueMemberN{Value: strconv.FormatInt(future.Unix(), 10)},
		"expires_at": &types.AttributeValueMemberN{Value: strconv.FormatInt(future.Add(24*time.Hour).Unix(), 10)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	svc := operatorRevoke(env.Store, auth.Options{})
	if _, err := svc.Revoke(ctx, auth.RevokeRequest{UserID: "u1"}); err != nil {
		t.Fatal(err)
	}
	revs, err := env.Store.Revocations(ctx, "x", "x", "u1")
	if err != nil || len(revs) != 1 || revs[0].RevokedAt.Unix() != future.Unix() {
		t.Fatalf("entry after an older revoke: %+v %v", revs, err)
	}
	// An older entry is replaced.
	if _, err := env.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &env.Tables.Revocations, Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "sub#u2"}, "revoked_at": &types.AttributeValueMemberN{Value: "1700000000"},
	}}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if _, err := svc.Revoke(ctx, auth.RevokeRequest{UserID: "u2"}); err != nil {
		t.Fatal(err)
	}
	revs, _ = env.Store.Revocations(ctx, "x", "x", "u2")
	if len(revs) != 1 || revs[0].RevokedAt.Before(before.Add(-time.Second)) {
		t.Fatalf("older entry not replaced: %+v", revs)
	}
}

// TestUserRevocationSameSecond: a hand-typed cutoff in seconds covers the
// whole of that second (read conservatively, rounded up), and a logout-all
// later in the same second keeps it so: a session started between the two
// is not left alive.
func TestUserRevocationSameSecond(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	sec := time.Now().Unix()
	if _, err := env.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &env.Tables.Revocations, Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "sub#u3"}, "revoked_at": &types.AttributeValueMemberN{Value: strconv.FormatInt(sec, 10)},
	}}); err != nil {
		t.Fatal(err)
	}
	later := time.UnixMilli(sec*1000 + 600)
	svc := operatorRevoke(env.Store, auth.Options{Now: func() time.Time { return later }})
	if _, err := svc.Revoke(ctx, auth.RevokeRequest{UserID: "u3"}); err != nil {
		t.Fatal(err)
	}
	revs, _ := env.Store.Revocations(ctx, "x", "x", "u3")
	endOfSecond := time.UnixMilli(sec*1000 + 999)
	if len(revs) != 1 || !revs[0].RevokedAt.Equal(endOfSecond) {
		t.Fatalf("entry %+v, want revoked_at %v (the end of the typed second, after %v)", revs, endOfSecond, later)
	}
	if !revs[0].Covers(auth.Target{UserID: "u3", SessionStart: later.Add(time.Millisecond)}, later) {
		t.Fatal("a session started after the logout-all, in the typed second, is left alive")
	}
}

// operatorRevoke is the console's revoke flow over store.
func operatorRevoke(store *dynamo.Store, o auth.Options) *auth.Revoke {
	return auth.NewRevoke(store, auth.NewOperatorRevoker(store, auth.NoMetrics{}, o), o)
}
