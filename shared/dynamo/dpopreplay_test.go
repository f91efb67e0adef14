package dynamo_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/dpop"
	"github.com/authkit/lambda-auth/shared/dynamo"
)

// TestDPoPReplayShared: two processes' stores over one table (DynamoDB
// Local): a proof recorded by one is seen by the other (RFC 9449 11.1
// across containers); another jti, or the same jti of another key, is
// new; an item whose window has passed (DynamoDB's TTL deletes it days
// later) does not make a new proof look replayed.
func TestDPoPReplayShared(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	a := dynamo.NewDPoPReplay(env.DB, env.ProofReplayTable, clock)
	b := dynamo.NewDPoPReplay(dynamodb.NewFromConfig(env.AWS), env.ProofReplayTable, clock)
	until := now.Add(time.Minute)
	steps := []struct {
		name      string
		r         *dynamo.DPoPReplay
		jkt, jti  string
		until     time.Time
		wantSeen  bool
		advanceBy time.Duration
	}{
		{"first use, process a", a, "key-1", "jti-1", until, false, 0},
		{"the same proof at process b", b, "key-1", "jti-1", until, true, 0},
		{"the same proof at process a", a, "key-1", "jti-1", until, true, 0},
		{"another jti", b, "key-1", "jti-2", until, false, 0},
		{"the same jti of another key", b, "key-2", "jti-1", until, false, 0},
		{"a short-lived entry", a, "key-3", "jti-3", now.Add(time.Second), false, 3 * time.Second},
		{"after its window: new again (an expired item not yet deleted)", b, "key-3", "jti-3", now.Add(time.Minute), false, 0},
		{"and recorded again", a, "key-3", "jti-3", now.Add(time.Minute), true, 0},
	}
	for _, s := range steps {
		seen, err := s.r.Seen(ctx, s.jkt, s.jti, s.until)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if seen != s.wantSeen {
			t.Errorf("%s: seen %v, want %v", s.name, seen, s.wantSeen)
		}
		now = now.Add(s.advanceBy)
	}
	// The item holds a hash of (jkt, jti), never the client's jti, and
	// expires at the end of the window (TTL).
	out, err := env.DB.Scan(ctx, &dynamodb.ScanInput{TableName: &env.ProofReplayTable})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 4 {
		t.Fatalf("%d items, want 4", len(out.Items))
	}
	for _, it := range out.Items {
		if len(it) != 2 || it["pk"] == nil || it["expires_at"] == nil {
			t.Errorf("item %v: want pk and expires_at only", it)
		}
	}
}

// TestDPoPReplayUnavailable: a DynamoDB that does not answer (or answers
// 500) is an error, never "not seen": the caller refuses the proof.
func TestDPoPReplayUnavailable(t *testing.T) {
	env := testenv.New(t)
	proxy := testenv.NewFaultProxy(t, os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	for _, mode := range []testenv.Mode{testenv.Error, testenv.Drop} {
		t.Run(mode.String(), func(t *testing.T) {
			proxy.Set(testenv.Fault{Mode: mode, Op: "PutItem"})
			defer proxy.Reset()
			db := dynamodb.NewFromConfig(env.AWS, func(o *dynamodb.Options) { o.BaseEndpoint = &proxy.URL; o.RetryMaxAttempts = 1 })
			var r dpop.Replay = dynamo.NewDPoPReplay(db, env.ProofReplayTable, nil)
			seen, err := r.Seen(context.Background(), "key", "jti", time.Now().Add(time.Minute))
			if err == nil || seen {
				t.Fatalf("seen %v, err %v: want an error", seen, err)
			}
		})
	}
}
