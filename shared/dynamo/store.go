// Package dynamo stores users, login throttles, sessions and revocation
// entries in DynamoDB, with single-item conditional writes and BatchGetItem
// only: no transactions (cheaper and faster on AWS, and the local stand-in
// has none), no scans, and no index queries on a token's path (the device
// list reads the sessions table's live-by-user index: UserSessions).
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/shared/auth"
)

// API is the part of the DynamoDB client the stores use.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// Tables names the tables; a store only touches those its function uses.
type Tables struct {
	Users          string
	LoginThrottle  string
	Sessions       string
	Revocations    string
	RevocationFeed string
	// RevocationSnapshot holds the feed's snapshot (snapshot.go); empty:
	// there is none, and a cold replica reads the feed's whole window.
	RevocationSnapshot string
	// Passkeys holds credential records and users' WebAuthn user handles,
	// PasskeyChallenges the ceremonies' single-use challenges (passkeys.go).
	Passkeys          string
	PasskeyChallenges string
	// MFA holds second factors and login challenges (factors.go).
	MFA string
}

// Store implements auth.Users, auth.Sessions, auth.Revocations and
// auth.RevocationLookup, and the revocation feed replicas read.
type Store struct {
	db         API
	tables     Tables
	now        func() time.Time
	serverTime func() time.Time // nil: the Date of DynamoDB's answers
	onFeed     func()           // called for every feed item written (not per copy)
	feed       FeedLayout
	copy       int // the feed copy this process reads
	onRefused  func(reason string)
	// layoutChecked is when (Unix ms, the store's clock) a read last
	// compared this reader's feed layout with the snapshot pointer's.
	layoutChecked atomic.Int64
}

var (
	_ auth.Users            = (*Store)(nil)
	_ auth.Sessions         = (*Store)(nil)
	_ auth.Revocations      = (*Store)(nil)
	_ auth.RevocationLookup = (*Store)(nil)
	_ auth.SessionDirectory = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock that stamps revocation feed items (the same
// clock the service's instants come from).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithFeedCounter calls count for every revocation feed item the store
// writes (the RevocationFeedItems metric).
func WithFeedCounter(count func()) Option { return func(s *Store) { s.onFeed = count } }

// WithFeedLayout lays the revocation feed out in copies and shards
// (FEED_COPIES, FEED_SHARDS; the zero layout is one partition per bucket):
// writes go to every copy, and this process reads one copy, picked at
// random now, so that a fleet's readers spread over them.
func WithFeedLayout(l FeedLayout) Option {
	return func(s *Store) {
		s.feed = l.norm()
		s.copy = rand.IntN(s.feed.Copies)
	}
}

// WithRefusalCounter calls count, with RefusedLayout or
// RefusedSnapshotAhead, each time a read refuses what it found (the
// ReplicaRefused metric).
func WithRefusalCounter(count func(reason string)) Option {
	return func(s *Store) { s.onRefused = count }
}

// WithServerClock replaces DynamoDB's clock as its answers' Date header
// shows it (rounded down to the second, as the header is) with now: for
// tests whose whole world runs on a clock of their own.
func WithServerClock(now func() time.Time) Option { return func(s *Store) { s.serverTime = now } }

// New returns a Store over db.
func New(db API, tables Tables, opts ...Option) *Store {
	s := &Store{db: db, tables: tables, now: time.Now, feed: FeedLayout{}.norm()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// batchGet reads keys from several tables in one BatchGetItem with strongly
// consistent reads. DynamoDB may return some keys as unprocessed under
// throttling; those are asked again (jittered backoff) until ctx ends.
func (s *Store) batchGet(ctx context.Context, req map[string]types.KeysAndAttributes) (map[string][]map[string]types.AttributeValue, error) {
	got := make(map[string][]map[string]types.AttributeValue, len(req))
	for table, ka := range req {
		ka.ConsistentRead = new(true)
		req[table] = ka
		got[table] = nil
	}
	for attempt := 0; ; attempt++ {
		out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return nil, fmt.Errorf("batch get: %w", err)
		}
		for table, items := range out.Responses {
			// Callers read the answer by the tables they asked: one keyed
			// otherwise (a table ARN for a name) would read as "no item",
			// a session or token without revocation entries. An error.
			if _, asked := got[table]; !asked {
				return nil, fmt.Errorf("batch get: an answer for table %q, which was not asked", table)
			}
			got[table] = append(got[table], items...)
		}
		if len(out.UnprocessedKeys) == 0 {
			return got, nil
		}
		req = out.UnprocessedKeys
		wait := time.Duration(rand.Int64N(int64(10*time.Millisecond) << min(attempt, 5)))
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("batch get: unprocessed keys: %w", ctx.Err())
		case <-time.After(wait):
		}
	}
}

func keys(ks ...map[string]types.AttributeValue) types.KeysAndAttributes {
	return types.KeysAndAttributes{Keys: ks}
}

func isConditionFailed(err error) (*types.ConditionalCheckFailedException, bool) {
	var ccf *types.ConditionalCheckFailedException
	ok := errors.As(err, &ccf)
	return ccf, ok
}
