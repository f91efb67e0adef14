package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/scripts/localaws/locallambda"
	"github.com/authkit/lambda-auth/scripts/testenv"
)

// TestDynamoDBOutage: the whole local API in replica mode, with local
// DynamoDB paused (SIGSTOP) as an outage. For 5 s valid tokens are still
// allowed and a token revoked before the pause is still denied; past
// REVOCATION_MAX_STALENESS (8 s here) every token is denied (fail closed);
// once DynamoDB answers again, valid tokens are allowed again.
func TestDynamoDBOutage(t *testing.T) {
	d := testenv.StartDev(t, "--param", "RevocationMaxStaleness=8s")
	b := newBrowser(t, d.API)
	valid, _ := b.login(localapi.DemoUsername, localapi.DemoPassword)
	revoked, _ := newBrowser(t, d.API).login(localapi.DemoUsername, localapi.DemoPassword)
	// Revoke the second token's session through the console revoke function.
	claims := decodeClaims(t, revoked)
	fn := locallambda.Client(d.Vars["AWS_ENDPOINT_URL_LAMBDA"])
	out, err := fn.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("RevokeFunction"),
		Payload: []byte(`{"session_id":"` + claims["sid"].(string) + `"}`)})
	if err != nil || out.FunctionError != nil {
		t.Fatalf("revoke: %v %s", err, out.Payload)
	}
	b.deniedWithinSync("the revoked token before the outage", revoked)
	if st := b.do("GET", "/me", "", nil, bearer(valid)...).status; st != 200 {
		t.Fatalf("the valid token before the outage: %d", st)
	}

	u, _ := url.Parse(d.Vars["AWS_ENDPOINT_URL_DYNAMODB"])
	port, _ := strconv.Atoi(u.Port())
	pid, err := localaws.ListenerPID(port)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			syscall.Kill(pid, syscall.SIGCONT)
			resumed = true
		}
	}
	defer resume()
	paused := time.Now()
	for time.Since(paused) < 5*time.Second {
		if st := b.do("GET", "/me", "", nil, bearer(valid)...).status; st != 200 {
			t.Fatalf("%v into the outage: the valid token got %d, want 200", time.Since(paused).Round(time.Millisecond), st)
		}
		if st := b.do("GET", "/me", "", nil, bearer(revoked)...).status; st != 403 {
			t.Fatalf("%v into the outage: the revoked token got %d, want 403", time.Since(paused).Round(time.Millisecond), st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Until(paused.Add(9 * time.Second)))
	if st := b.do("GET", "/me", "", nil, bearer(valid)...).status; st != 403 {
		t.Fatalf("past the staleness bound: the valid token got %d, want 403 (fail closed)", st)
	}
	resume()
	deadline := time.Now().Add(5 * time.Second)
	for b.do("GET", "/me", "", nil, bearer(valid)...).status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the valid token still denied 5 s after DynamoDB came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// decodeClaims reads an access token's payload (no verification: the
// token came from our own login).
func decodeClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	if err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("payload of %q: %v", tok, err)
	}
	return m
}
