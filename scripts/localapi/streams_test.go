package localapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/testenv"
)

// scriptedFunction answers each invocation with the batch item failures
// its script gives for that invocation (by count), and records what it
// was sent.
type scriptedFunction struct {
	mu      sync.Mutex
	batches [][]string // the pk of every record, per invocation
	fail    func(call int, recs []events.DynamoDBEventRecord) []string
}

func (f *scriptedFunction) Invoke(_ context.Context, payload []byte) ([]byte, error) {
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var pks []string
	for _, r := range ev.Records {
		pks = append(pks, r.Change.Keys["pk"].String())
	}
	f.batches = append(f.batches, pks)
	var resp events.DynamoDBEventResponse
	for _, seq := range f.fail(len(f.batches), ev.Records) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: seq})
	}
	return json.Marshal(resp)
}

func (f *scriptedFunction) calls() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.batches...)
}

// TestStreamPollerDeliversAsLambda: the emulated event source mapping of
// template.yaml's revocation-feed function, on a real DynamoDB stream:
// records in order, in batches of at most BatchSize, in the
// events.DynamoDBEvent shape; a reported failure is retried from that
// record on (the records before it are not sent again); a record that
// keeps failing is given up after MaximumRetryAttempts, bisected down to
// itself, and the records after it are still delivered.
func TestStreamPollerDeliversAsLambda(t *testing.T) {
	env := testenv.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tpl, err := localapi.Load(testenv.RepoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(tpl.Streams) != 1 || tpl.Streams[0].Function != "RevocationFeedFunction" || tpl.Streams[0].Table != "RevocationsTable" ||
		!tpl.Streams[0].Bisect || !tpl.Streams[0].ReportFailures || tpl.Streams[0].MaxRetries != -1 {
		t.Fatalf("template stream sources %+v", tpl.Streams)
	}
	src := tpl.Streams[0]
	src.BatchSize = 4 // small batches, to see them
	src.MaxRetries = 2
	arn, err := localapi.StreamARN(ctx, env.DB, env.Tables.Revocations)
	if err != nil || arn == "" {
		t.Fatalf("the Revocations table has no stream (%v): this test needs DynamoDB Local", err)
	}
	put := func(pk string) {
		if _, err := env.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &env.Tables.Revocations,
			Item: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: pk}}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		put("jti#r" + strconv.Itoa(i))
	}
	// jti#r5 fails once (retried from it), jti#r7 always (given up).
	failedOnce := false
	fn := &scriptedFunction{fail: func(call int, recs []events.DynamoDBEventRecord) []string {
		var out []string
		for _, r := range recs {
			pk := r.Change.Keys["pk"].String()
			if (pk == "jti#r5" && !failedOnce) || pk == "jti#r7" {
				failedOnce = failedOnce || pk == "jti#r5"
				out = append(out, r.Change.SequenceNumber)
			}
		}
		return out
	}}
	p := &localapi.StreamPoller{Source: src, StreamARN: arn, Client: testenv.StreamsClient(t, env.AWS), Function: fn,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Region: "us-east-1"}
	go p.Run(ctx)

	delivered := func() map[string]int {
		n := map[string]int{}
		for _, b := range fn.calls() {
			for _, pk := range b {
				n[pk]++
			}
		}
		return n
	}
	deadline := time.Now().Add(15 * time.Second)
	for delivered()["jti#r9"] == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	got := delivered()
	for i := range 10 {
		if got["jti#r"+strconv.Itoa(i)] == 0 {
			t.Fatalf("jti#r%d never delivered: %v", i, fn.calls())
		}
	}
	for _, b := range fn.calls() {
		if len(b) > src.BatchSize {
			t.Errorf("a batch of %d records, BatchSize %d", len(b), src.BatchSize)
		}
	}
	if got["jti#r0"] != 1 || got["jti#r4"] != 1 {
		t.Errorf("records before a failure sent again: %v", fn.calls())
	}
	if got["jti#r5"] < 2 {
		t.Errorf("jti#r5 failed once but was not retried: %v", fn.calls())
	}
	if got["jti#r7"] < 3 {
		t.Errorf("jti#r7 always fails: tried %d times, want the first try and its retries: %v", got["jti#r7"], fn.calls())
	}
	// A record written later reaches the function within a poll or two.
	before := len(fn.calls())
	t0 := time.Now()
	put("sid#late")
	for delivered()["sid#late"] == 0 {
		if time.Since(t0) > 5*time.Second {
			t.Fatalf("a new record not delivered in 5 s: %v", fn.calls()[before:])
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("a new record delivered %v after its write (poll interval %v)", time.Since(t0).Round(time.Millisecond), localapi.StreamPollInterval)
}
