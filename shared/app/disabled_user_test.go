package app_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/scripts/testenv"
)

// TestDisabledUser: a disabled user cannot log in (same answer as a wrong
// password) nor refresh an existing session.
func TestDisabledUser(t *testing.T) {
	env := testenv.New(t)
	u := env.CreateUser(t, "hank", "a long enough password")
	s := newService(t, env)
	tok := s.doLogin(t, "hank", "a long enough password")
	if err := env.Store.SetUserDisabled(t.Context(), u.Username, true); err != nil {
		t.Fatal(err)
	}
	if resp := s.refreshWith(t, tok.Refresh); resp.StatusCode != 401 {
		t.Errorf("refresh of a disabled user: %d", resp.StatusCode)
	}
	resp := call(t, s.login, loginEvent(t, "hank", "a long enough password"))
	if resp.StatusCode != 401 || errorCode(t, resp) != "invalid_credentials" {
		t.Errorf("login of a disabled user: %d %s", resp.StatusCode, resp.Body)
	}
}

// TestDisabledFlagFailsClosed: a disabled flag typed by hand in the console
// in any form but an explicit false disables the user.
func TestDisabledFlagFailsClosed(t *testing.T) {
	env := testenv.New(t)
	s := newService(t, env)
	for i, v := range []types.AttributeValue{
		&types.AttributeValueMemberS{Value: "True"}, &types.AttributeValueMemberS{Value: "yes"},
		&types.AttributeValueMemberN{Value: "1"}, &types.AttributeValueMemberBOOL{Value: true},
	} {
		name := "user" + strconv.Itoa(i)
		env.CreateUser(t, name, "a long enough password")
		_, err := env.DB.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
			TableName: &env.Tables.Users, Key: map[string]types.AttributeValue{"username": &types.AttributeValueMemberS{Value: name}},
			UpdateExpression: aws.String("SET disabled = :d"), ExpressionAttributeValues: map[string]types.AttributeValue{":d": v},
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp := call(t, s.login, loginEvent(t, name, "a long enough password")); resp.StatusCode != 401 {
			t.Errorf("disabled=%#v: login %d, want 401", v, resp.StatusCode)
		}
	}
	env.CreateUser(t, "enabled", "a long enough password") // BOOL false
	s.doLogin(t, "enabled", "a long enough password")
}
