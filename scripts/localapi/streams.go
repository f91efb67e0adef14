package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"gopkg.in/yaml.v3"
)

// StreamSource is one `Type: DynamoDB` event of a function: an event
// source mapping from a table's stream to the function, with the settings
// Lambda applies ([event source mapping]).
//
// [event source mapping]: https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html
type StreamSource struct {
	Function         string // logical id
	Table            string // logical id of the table whose StreamArn it reads
	StartingPosition string // TRIM_HORIZON or LATEST
	BatchSize        int
	Bisect           bool // BisectBatchOnFunctionError
	MaxRetries       int  // MaximumRetryAttempts; -1: until the record expires
	MaxRecordAge     time.Duration
	ReportFailures   bool // FunctionResponseTypes: [ReportBatchItemFailures]
}

// rawStreamEvent is the part of a `Type: DynamoDB` event's Properties
// the local mapping applies.
type rawStreamEvent struct {
	Stream                     yaml.Node `yaml:"Stream"`
	StartingPosition           string    `yaml:"StartingPosition"`
	BatchSize                  int       `yaml:"BatchSize"`
	BisectBatchOnFunctionError bool      `yaml:"BisectBatchOnFunctionError"`
	MaximumRetryAttempts       *int      `yaml:"MaximumRetryAttempts"`
	MaximumRecordAgeInSeconds  int       `yaml:"MaximumRecordAgeInSeconds"`
	FunctionResponseTypes      []string  `yaml:"FunctionResponseTypes"`
}

func (e rawStreamEvent) source(function string) (StreamSource, error) {
	v, err := value(e.Stream)
	if err != nil || len(v.GetAtt) <= len(".StreamArn") || v.GetAtt[len(v.GetAtt)-len(".StreamArn"):] != ".StreamArn" {
		return StreamSource{}, errors.New("the event's Stream must be !GetAtt <Table>.StreamArn")
	}
	s := StreamSource{Function: function, Table: v.GetAtt[:len(v.GetAtt)-len(".StreamArn")],
		StartingPosition: e.StartingPosition, BatchSize: e.BatchSize, Bisect: e.BisectBatchOnFunctionError,
		MaxRetries: -1, MaxRecordAge: time.Duration(e.MaximumRecordAgeInSeconds) * time.Second,
		ReportFailures: slices.Contains(e.FunctionResponseTypes, "ReportBatchItemFailures")}
	if e.MaximumRetryAttempts != nil {
		s.MaxRetries = *e.MaximumRetryAttempts
	}
	if s.BatchSize <= 0 {
		s.BatchSize = 100 // Lambda's default for DynamoDB streams
	}
	if s.StartingPosition != "TRIM_HORIZON" && s.StartingPosition != "LATEST" {
		return StreamSource{}, fmt.Errorf("StartingPosition %q: TRIM_HORIZON or LATEST", s.StartingPosition)
	}
	return s, nil
}

// StreamPollInterval is how often a shard is polled: Lambda polls each
// shard of a DynamoDB stream about four times a second.
const StreamPollInterval = 250 * time.Millisecond

// StreamPoller emulates one event source mapping: it polls the table's
// stream (every shard, new shards as they appear, a child after its
// parent), batches up to BatchSize records, invokes the function with the
// events.DynamoDBEvent Lambda sends, and on an error or batch item
// failures retries as Lambda does: from the first failed record, halving
// the batch when Bisect is set, at most MaxRetries times and never past
// MaxRecordAge; then it logs what the on-failure destination would
// receive and moves on.
type StreamPoller struct {
	Source    StreamSource
	StreamARN string
	Client    *dynamodbstreams.Client
	Function  Invoker
	Log       *slog.Logger
	Region    string

	shards map[string]*shardState
	done   map[string]bool // closed shards read to their end
}

type shardState struct {
	iterator string
	lastSeq  string
	parent   string
	closed   bool // DescribeStream gave it an ending sequence number
}

// StreamARN returns the latest stream of a table, "" when it has none
// (a stand-in without Streams, or a table without StreamSpecification).
func StreamARN(ctx context.Context, db *dynamodb.Client, table string) (string, error) {
	out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table})
	if err != nil {
		return "", fmt.Errorf("describe %s: %w", table, err)
	}
	return aws.ToString(out.Table.LatestStreamArn), nil
}

// Run polls until ctx ends.
func (p *StreamPoller) Run(ctx context.Context) error {
	p.shards, p.done = map[string]*shardState{}, map[string]bool{}
	first := true
	t := time.NewTicker(StreamPollInterval)
	defer t.Stop()
	for {
		if err := p.discover(ctx, first); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.Log.ErrorContext(ctx, "stream: describe", "function", p.Source.Function, "err", err)
		} else {
			first = false
		}
		for id, sh := range p.shards {
			if sh.parent != "" && !p.done[sh.parent] && p.shards[sh.parent] != nil {
				continue // a child waits for its parent: records of one key stay in order
			}
			if err := p.poll(ctx, id, sh); err != nil && ctx.Err() == nil {
				p.Log.ErrorContext(ctx, "stream: read shard", "function", p.Source.Function, "shard", id, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// discover adds the shards not seen yet. Those there at start begin at
// StartingPosition; shards appearing later begin at their start.
func (p *StreamPoller) discover(ctx context.Context, first bool) error {
	var start *string
	for {
		out, err := p.Client.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &p.StreamARN, ExclusiveStartShardId: start})
		if err != nil {
			return err
		}
		for _, sh := range out.StreamDescription.Shards {
			id := aws.ToString(sh.ShardId)
			closed := sh.SequenceNumberRange != nil && sh.SequenceNumberRange.EndingSequenceNumber != nil
			if known := p.shards[id]; known != nil {
				known.closed = closed
				continue
			}
			if p.done[id] {
				continue
			}
			typ := streamtypes.ShardIteratorTypeTrimHorizon
			if first && p.Source.StartingPosition == "LATEST" {
				typ = streamtypes.ShardIteratorTypeLatest
			}
			it, err := p.Client.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
				StreamArn: &p.StreamARN, ShardId: &id, ShardIteratorType: typ})
			if err != nil {
				return fmt.Errorf("shard iterator %s: %w", id, err)
			}
			p.shards[id] = &shardState{iterator: aws.ToString(it.ShardIterator), parent: aws.ToString(sh.ParentShardId), closed: closed}
		}
		start = out.StreamDescription.LastEvaluatedShardId
		if start == nil {
			return nil
		}
	}
}

// poll reads one shard until it has nothing new and hands every batch to
// the function.
func (p *StreamPoller) poll(ctx context.Context, id string, sh *shardState) error {
	for {
		out, err := p.Client.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: &sh.iterator, Limit: aws.Int32(int32(p.Source.BatchSize))})
		var expired *streamtypes.ExpiredIteratorException
		if errors.As(err, &expired) && sh.lastSeq != "" {
			it, ierr := p.Client.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: &p.StreamARN, ShardId: &id,
				ShardIteratorType: streamtypes.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: &sh.lastSeq})
			if ierr != nil {
				return ierr
			}
			sh.iterator = aws.ToString(it.ShardIterator)
			continue
		}
		var trimmed *streamtypes.TrimmedDataAccessException
		if errors.As(err, &trimmed) {
			// DynamoDB Local answers so for an iterator taken while the
			// shard was empty, once records arrive (one sequence counter
			// for every table: the first record's number is not the
			// shard's stated start): start again at the oldest record, or
			// after the last one read.
			return p.reacquire(ctx, id, sh, streamtypes.ShardIteratorTypeTrimHorizon)
		}
		if err != nil {
			return err
		}
		if len(out.Records) > 0 {
			recs := make([]events.DynamoDBEventRecord, len(out.Records))
			for i, r := range out.Records {
				recs[i] = EventRecord(r, p.StreamARN, p.Region)
			}
			p.deliver(ctx, id, recs)
			sh.lastSeq = recs[len(recs)-1].Change.SequenceNumber
		}
		if out.NextShardIterator == nil {
			if sh.closed { // closed, read to its end
				delete(p.shards, id)
				p.done[id] = true
				return nil
			}
			// An open shard without a next iterator (DynamoDB Local answers
			// so for a shard with nothing in it yet): start again after
			// the last record read, on the next poll.
			return p.reacquire(ctx, id, sh, streamtypes.ShardIteratorTypeTrimHorizon)
		}
		sh.iterator = aws.ToString(out.NextShardIterator)
		if len(out.Records) < p.Source.BatchSize {
			return nil
		}
	}
}

// reacquire gets a new iterator for a shard: after the last record read;
// when none was read yet, at typ. (Not at the shard's stated starting
// sequence number: DynamoDB Local states 1 for every shard, and reading
// at a number older than the oldest record is TrimmedDataAccessException.)
func (p *StreamPoller) reacquire(ctx context.Context, id string, sh *shardState, typ streamtypes.ShardIteratorType) error {
	in := &dynamodbstreams.GetShardIteratorInput{StreamArn: &p.StreamARN, ShardId: &id, ShardIteratorType: typ}
	if sh.lastSeq != "" {
		in.ShardIteratorType, in.SequenceNumber = streamtypes.ShardIteratorTypeAfterSequenceNumber, &sh.lastSeq
	}
	it, err := p.Client.GetShardIterator(ctx, in)
	if err != nil {
		return err
	}
	sh.iterator = aws.ToString(it.ShardIterator)
	return nil
}

// deliver invokes the function with recs until every record is handled or
// given up on, as Lambda does.
func (p *StreamPoller) deliver(ctx context.Context, shard string, recs []events.DynamoDBEventRecord) {
	retries := 0
	for len(recs) > 0 && ctx.Err() == nil {
		recs = p.fresh(ctx, shard, recs)
		if len(recs) == 0 {
			return
		}
		failed, err := p.invoke(ctx, recs)
		if err == nil && failed < 0 {
			return
		}
		if err == nil {
			recs = recs[failed:] // Lambda resumes at the first failed record
		} else {
			p.Log.WarnContext(ctx, "stream: invocation failed", "function", p.Source.Function, "records", len(recs), "err", err)
		}
		retries++
		if p.Source.MaxRetries >= 0 && retries > p.Source.MaxRetries {
			p.onFailure(ctx, shard, recs, "RetryAttemptsExhausted")
			return
		}
		if p.Source.Bisect && len(recs) > 1 {
			half := len(recs) / 2
			p.deliver(ctx, shard, recs[:half])
			recs = recs[half:]
			retries = 0 // each half is a batch of its own
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(min(retries, 5)) * 100 * time.Millisecond):
		}
	}
}

// fresh drops (to the on-failure destination) the records older than
// MaxRecordAge.
func (p *StreamPoller) fresh(ctx context.Context, shard string, recs []events.DynamoDBEventRecord) []events.DynamoDBEventRecord {
	if p.Source.MaxRecordAge <= 0 {
		return recs
	}
	i := 0
	for i < len(recs) && time.Since(recs[i].Change.ApproximateCreationDateTime.Time) > p.Source.MaxRecordAge {
		i++
	}
	if i > 0 {
		p.onFailure(ctx, shard, recs[:i], "RecordAgeExceeded")
	}
	return recs[i:]
}

// invoke runs the function once; failed is the index of the first record
// reported failed, -1 for none.
func (p *StreamPoller) invoke(ctx context.Context, recs []events.DynamoDBEventRecord) (failed int, err error) {
	payload, err := json.Marshal(events.DynamoDBEvent{Records: recs})
	if err != nil {
		return 0, err
	}
	out, err := p.Function.Invoke(ctx, payload)
	if err != nil {
		return 0, err
	}
	if !p.Source.ReportFailures {
		return -1, nil
	}
	var resp events.DynamoDBEventResponse
	if len(out) > 0 && string(out) != "null" {
		if err := json.Unmarshal(out, &resp); err != nil {
			return 0, fmt.Errorf("response is not a batch item failure list: %w", err)
		}
	}
	first := -1
	for _, f := range resp.BatchItemFailures {
		i := slices.IndexFunc(recs, func(r events.DynamoDBEventRecord) bool { return r.Change.SequenceNumber == f.ItemIdentifier })
		if i < 0 {
			// Lambda treats an identifier it did not send as the whole
			// batch failing.
			return 0, fmt.Errorf("batch item failure %q is no record of the batch", f.ItemIdentifier)
		}
		if first < 0 || i < first {
			first = i
		}
	}
	return first, nil
}

// onFailure logs what Lambda sends the on-failure destination: where the
// batch is in the stream, never the records themselves.
func (p *StreamPoller) onFailure(ctx context.Context, shard string, recs []events.DynamoDBEventRecord, condition string) {
	p.Log.ErrorContext(ctx, "stream: batch given up (on-failure destination)", "function", p.Source.Function,
		"condition", condition, "shard", shard, "startSequenceNumber", recs[0].Change.SequenceNumber,
		"endSequenceNumber", recs[len(recs)-1].Change.SequenceNumber, "batchSize", len(recs))
}

// EventRecord is a stream record as Lambda hands it to a function.
func EventRecord(r streamtypes.Record, streamARN, region string) events.DynamoDBEventRecord {
	out := events.DynamoDBEventRecord{
		AWSRegion: region, EventID: aws.ToString(r.EventID), EventName: string(r.EventName),
		EventSource: aws.ToString(r.EventSource), EventVersion: aws.ToString(r.EventVersion), EventSourceArn: streamARN,
	}
	if c := r.Dynamodb; c != nil {
		out.Change = events.DynamoDBStreamRecord{
			Keys: image(c.Keys), NewImage: image(c.NewImage), OldImage: image(c.OldImage),
			SequenceNumber: aws.ToString(c.SequenceNumber), SizeBytes: aws.ToInt64(c.SizeBytes),
			StreamViewType: string(c.StreamViewType),
		}
		if c.ApproximateCreationDateTime != nil {
			out.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: *c.ApproximateCreationDateTime}
		}
	}
	return out
}

func image(m map[string]streamtypes.AttributeValue) map[string]events.DynamoDBAttributeValue {
	if m == nil {
		return nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(m))
	for k, v := range m {
		out[k] = attribute(v)
	}
	return out
}

func attribute(v streamtypes.AttributeValue) events.DynamoDBAttributeValue {
	switch v := v.(type) {
	case *streamtypes.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value)
	case *streamtypes.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value)
	case *streamtypes.AttributeValueMemberB:
		return events.NewBinaryAttribute(v.Value)
	case *streamtypes.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value)
	case *streamtypes.AttributeValueMemberNULL:
		return events.NewNullAttribute()
	case *streamtypes.AttributeValueMemberSS:
		return events.NewStringSetAttribute(v.Value)
	case *streamtypes.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(v.Value)
	case *streamtypes.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(v.Value)
	case *streamtypes.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, len(v.Value))
		for i, e := range v.Value {
			l[i] = attribute(e)
		}
		return events.NewListAttribute(l)
	case *streamtypes.AttributeValueMemberM:
		return events.NewMapAttribute(image(v.Value))
	}
	return events.NewNullAttribute()
}

// StartStreams starts a StreamPoller for every stream event of tpl whose
// table has a stream on db, and returns what it started (by function) and
// the sources it could not start (a stand-in without Streams), each with
// why. The pollers stop when ctx ends.
func StartStreams(ctx context.Context, tpl *Template, db *dynamodb.Client, streams *dynamodbstreams.Client,
	functions map[string]Invoker, tableName func(string) string, log *slog.Logger) (started []string, skipped map[string]error) {
	skipped = map[string]error{}
	for _, src := range tpl.Streams {
		fn, ok := functions[src.Function]
		if !ok {
			skipped[src.Function] = errors.New("function not running")
			continue
		}
		arn, err := StreamARN(ctx, db, tableName(src.Table))
		if err == nil && arn == "" {
			err = fmt.Errorf("table %s has no stream (DynamoDB Local has Streams; dynalite has none)", tableName(src.Table))
		}
		if err != nil {
			skipped[src.Function] = err
			continue
		}
		p := &StreamPoller{Source: src, StreamARN: arn, Client: streams, Function: fn, Log: log, Region: region}
		go p.Run(ctx)
		started = append(started, src.Function+" <- "+src.Table+" stream (batch "+strconv.Itoa(src.BatchSize)+")")
	}
	return started, skipped
}
