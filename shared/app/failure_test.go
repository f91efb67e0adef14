package app_test

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
)

// lambdaTimeout is the function timeout the failure tests give each call,
// as Lambda does through the context's deadline. It leaves the steps before
// a hanging call (reads, argon2id, signing) ample time on a loaded machine.
const lambdaTimeout = 3 * time.Second

// callBefore calls h as Lambda does, with a context that ends at the
// function's timeout, and checks that the answer came before it: an answer
// after the deadline never reaches the client (Lambda ends the invocation
// and API Gateway sends a bare 5xx of its own instead of our JSON).
func callBefore(t *testing.T, h apigw.Handler, req apigw.Request) apigw.Response {
	t.Helper()
	deadline := time.Now().Add(lambdaTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	resp, err := h(ctx, req)
	if err != nil {
		t.Fatalf("handler error (a 500 at API Gateway): %v", err)
	}
	if late := time.Since(deadline); late >= 0 {
		t.Errorf("answered %v after the function's deadline", late.Round(time.Millisecond))
	}
	return resp
}

// want503 checks the answer to a request whose dependency failed: 503
// temporarily_unavailable with Retry-After, and no token and no cookie.
func want503(t *testing.T, what string, resp apigw.Response) {
	t.Helper()
	if resp.StatusCode != 503 || errorCode(t, resp) != "temporarily_unavailable" || resp.Headers["retry-after"] == "" {
		t.Errorf("%s: %d %s (retry-after %q), want 503 temporarily_unavailable with Retry-After",
			what, resp.StatusCode, resp.Body, resp.Headers["retry-after"])
	}
	if len(resp.Cookies) != 0 || strings.Contains(resp.Body, "token") {
		t.Errorf("%s: a failed request handed out %v %s", what, resp.Cookies, resp.Body)
	}
}

func (s *service) refreshRequest(t *testing.T, refresh string) apigw.Request {
	t.Helper()
	req := httpEvent(t, "refresh", "REPLACE_WITH_REFRESH_TOKEN", refresh)
	req.Headers["origin"] = "https://app.test.example"
	return req
}

// TestDynamoDBFailureAnswers503: with DynamoDB dropping connections,
// never answering, or answering 500, login and refresh answer 503 with a
// JSON error before the function's timeout. The authorizer denies in
// strict mode; in replica mode it decides from its last view until that is
// REVOCATION_MAX_STALENESS old, then denies. Nothing is left changed: the
// refresh token works once DynamoDB is back.
func TestDynamoDBFailureAnswers503(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "zack", "a long enough password")
	db := testenv.NewFaultProxy(t, os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", db.URL)
	s := newService(t, env)
	tok := s.doLogin(t, "zack", "a long enough password")

	for _, mode := range []testenv.Mode{testenv.Drop, testenv.Hang, testenv.Error} {
		t.Run(mode.String(), func(t *testing.T) {
			db.Set(testenv.Fault{Mode: mode})
			defer db.Reset()
			want503(t, "login", callBefore(t, s.login, loginEvent(t, "zack", "a long enough password")))
			want503(t, "refresh", callBefore(t, s.refresh, s.refreshRequest(t, tok.Refresh)))
			ok, _ := s.authorize(t, tok.Access)
			if replica := env.Getenv("REVOCATION_MODE") == "replica"; ok != replica {
				t.Errorf("authorizer during the outage: allowed %v, want %v (REVOCATION_MODE %s)", ok, replica, env.Getenv("REVOCATION_MODE"))
			}
		})
	}
	if env.Getenv("REVOCATION_MODE") == "replica" {
		db.Set(testenv.Fault{Mode: testenv.Error})
		s.clock.Advance(5*time.Minute + time.Second) // REVOCATION_MAX_STALENESS
		depErrors := s.metrics.Count("DependencyError", nil)
		if ok, _ := s.authorize(t, tok.Access); ok {
			t.Error("authorizer allowed with a view older than its staleness bound")
		}
		// Counted as what it is: a stale view, not a DynamoDB error.
		if n := s.metrics.Count("AuthorizerDecision", map[string]string{"Decision": "deny", "Reason": "stale"}); n != 1 {
			t.Errorf("AuthorizerDecision deny/stale = %v after one stale denial, want 1\n%s", n, s.metrics.Raw())
		}
		if n := s.metrics.Count("AuthorizerDecision", map[string]string{"Reason": "unavailable"}); n != 0 {
			t.Errorf("a stale denial counted as unavailable (%v)", n)
		}
		if n := s.metrics.Count("DependencyError", nil); n != depErrors {
			t.Errorf("a stale denial counted as %v DependencyError", n-depErrors)
		}
		if !strings.Contains(s.logs.String(), "deny: revocation replica too stale (fail closed)") {
			t.Error("no log line says the replica was too stale")
		}
		db.Reset()
	}
	if resp := s.refreshWith(t, tok.Refresh); resp.StatusCode != 200 {
		t.Fatalf("refresh once DynamoDB is back: %d %s", resp.StatusCode, resp.Body)
	}
}

// TestFailedLoginLogsNoUsername: when DynamoDB fails during a login, the
// Error line names no username: an unknown one may be a password typed
// into the wrong field (login logs only a hash prefix of such names).
func TestFailedLoginLogsNoUsername(t *testing.T) {
	env := testenv.New(t)
	db := testenv.NewFaultProxy(t, os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", db.URL)
	s := newService(t, env)
	typed := "hunter2-typed-in-the-wrong-field"
	db.Set(testenv.Fault{Mode: testenv.Error})
	want503(t, "login", callBefore(t, s.login, loginEvent(t, typed, "a long enough password")))
	db.Reset()
	logs := s.logs.String()
	if !strings.Contains(logs, `"level":"ERROR"`) {
		t.Fatalf("the failure was not logged:\n%s", logs)
	}
	if strings.Contains(logs, typed) {
		t.Errorf("a failed login logged the username:\n%s", logs)
	}
}

// TestNothingHalfWritten: when KMS fails (errors, never answers, drops the
// connection) or DynamoDB fails the write that would record a token, the
// client gets 503 and no token, and the tables hold nothing the failure
// left half done: no session without a token handed out, no rotation
// without one. The refresh token presented during a failure still works
// afterwards.
func TestNothingHalfWritten(t *testing.T) {
	env := testenv.New(t)
	env.Set("LOGIN_MAX_FAILURES", "100") // failed logins here are the service's fault, not guesses
	user := env.CreateUser(t, "yuri", "a long enough password")
	kms := testenv.NewFaultProxy(t, os.Getenv("AWS_ENDPOINT_URL_KMS"))
	db := testenv.NewFaultProxy(t, os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	t.Setenv("AWS_ENDPOINT_URL_KMS", kms.URL)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", db.URL)
	s := newService(t, env)
	ctx := context.Background()
	sessions := func() int {
		out, err := env.DB.Scan(ctx, &dynamodb.ScanInput{TableName: &env.Tables.Sessions, ConsistentRead: new(true),
			FilterExpression:          new("user_id = :u"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":u": &types.AttributeValueMemberS{Value: user.ID}}})
		if err != nil {
			t.Fatal(err)
		}
		return int(out.Count)
	}

	cases := []struct {
		name     string
		kms, db  testenv.Fault
		signed   bool // the failure comes after the token was signed
		login    bool
		rotation bool
	}{
		{name: "KMS errors", kms: testenv.Fault{Mode: testenv.Error}, login: true, rotation: true},
		{name: "KMS never answers", kms: testenv.Fault{Mode: testenv.Hang}, login: true, rotation: true},
		{name: "KMS drops the connection", kms: testenv.Fault{Mode: testenv.Drop}, login: true, rotation: true},
		{name: "session write fails", db: testenv.Fault{Mode: testenv.Error, Op: "PutItem", Table: env.Tables.Sessions}, signed: true, login: true},
		{name: "session write never answers", db: testenv.Fault{Mode: testenv.Hang, Op: "PutItem", Table: env.Tables.Sessions}, signed: true, login: true},
		{name: "rotation write fails", db: testenv.Fault{Mode: testenv.Error, Op: "UpdateItem", Table: env.Tables.Sessions}, signed: true, rotation: true},
		{name: "rotation write never answers", db: testenv.Fault{Mode: testenv.Hang, Op: "UpdateItem", Table: env.Tables.Sessions}, signed: true, rotation: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := s.doLogin(t, "yuri", "a long enough password")
			before, err := env.Store.Session(ctx, tok.Refresh[:32])
			if err != nil {
				t.Fatal(err)
			}
			count := sessions()
			kms.Set(tc.kms)
			db.Set(tc.db)
			s.calls.Reset()
			if tc.login {
				want503(t, "login", callBefore(t, s.login, loginEvent(t, "yuri", "a long enough password")))
			}
			if tc.rotation {
				want503(t, "refresh", callBefore(t, s.refresh, s.refreshRequest(t, tok.Refresh)))
			}
			if tc.signed && s.calls.Op("KMS.Sign") == 0 {
				t.Errorf("no token was signed before the failure (%s): the row tests nothing", s.calls)
			}
			kms.Reset()
			db.Reset()

			if got := sessions(); got != count {
				t.Errorf("%d sessions after a failed login, want %d", got, count)
			}
			after, err := env.Store.Session(ctx, tok.Refresh[:32])
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(before, after) {
				t.Errorf("session changed by a failed refresh:\nbefore %+v\nafter  %+v", before, after)
			}
			if resp := s.refreshWith(t, tok.Refresh); resp.StatusCode != 200 {
				t.Errorf("refresh token after the failure: %d %s", resp.StatusCode, resp.Body)
			}
		})
	}
}
