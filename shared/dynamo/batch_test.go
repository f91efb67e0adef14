package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
)

// arnKeyed answers BatchGetItem keyed by table ARNs instead of the names
// asked for.
type arnKeyed struct{ dynamo.API }

func (a arnKeyed) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	out, err := a.API.BatchGetItem(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	rekeyed := map[string][]map[string]types.AttributeValue{}
	for table, items := range out.Responses {
		rekeyed["arn:aws:dynamodb:us-east-1:000000000000:table/"+table] = items
	}
	out.Responses = rekeyed
	return out, nil
}

// TestBatchAnswerForAnotherTableIsAnError: a BatchGetItem answer keyed by
// anything but the tables asked (an ARN for a name) is an error for every
// reader, never "no revocation entry": refresh's standing, the strict
// lookup and the session list would otherwise read a revoked session as
// live.
func TestBatchAnswerForAnotherTableIsAnError(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	u := env.CreateUser(t, "ann", "a long enough password")
	honest := dynamo.New(env.DB, env.Tables)
	if err := honest.PutRevocation(ctx, auth.NewRevocation(auth.RevokeUser, u.ID, time.Now(), "test")); err != nil {
		t.Fatal(err)
	}
	st := dynamo.New(arnKeyed{env.DB}, env.Tables)
	sess := &auth.Session{ID: "AAABmshq-IjhYozUwxVfazvW8lwlLuGt", UserID: u.ID, Username: "ann"}
	if got, err := st.SessionStanding(ctx, sess); err == nil {
		t.Errorf("SessionStanding with an ARN-keyed answer: %+v, want an error", got)
	}
	if got, err := st.Revocations(ctx, "j", sess.ID, u.ID); err == nil {
		t.Errorf("Revocations with an ARN-keyed answer: %+v, want an error", got)
	}
	// The honest store reads the same entries.
	if got, err := honest.SessionStanding(ctx, sess); err != nil || len(got.Revocations) != 1 || got.User == nil {
		t.Errorf("SessionStanding: %+v %v, want the user and its entry", got, err)
	}
}
