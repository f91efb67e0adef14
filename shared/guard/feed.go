package guard

import (
	"context"
	"time"

	"github.com/authkit/lambda-auth/shared/dynamo"
	"github.com/authkit/lambda-auth/shared/replica"
)

// FeedTables names the stack's revocation feed tables.
type FeedTables struct {
	// Feed is the revocation feed (the RevocationFeedTableName output).
	// Required.
	Feed string
	// Snapshot is the feed's compacted snapshot (the
	// RevocationSnapshotTableName output), read at a cold start and once a
	// minute to compare the feed's layout; empty: a cold start reads the
	// feed's whole window, and a layout mismatch is seen only in the items
	// it reads.
	Snapshot string
}

// FeedReplica is a per-process replica of the stack's revocation feed,
// read with db (a *dynamodb.Client whose role may dynamodb:Query the feed
// table and dynamodb:GetItem and BatchGetItem the snapshot table), as the
// authorizer keeps one: synced at most every second, deciding from its
// last view for up to 5 minutes of DynamoDB outage. accessTokenTTL and
// leeway are the stack's AccessTokenTTL and ClockLeeway. It loads the
// feed now; on an error it is returned anyway, without a view (lookups
// fail, so the Guard refuses, until a sync works). A stack whose feed is
// laid out in copies or shards (FeedCopies, FeedShards) needs the same
// layout here: dynamo.WithFeedLayout among opts; a replica laid out
// otherwise than the feed's writers refuses its view (every request
// refused) and logs both layouts.
func FeedReplica(ctx context.Context, db dynamo.API, tables FeedTables, accessTokenTTL, leeway time.Duration, opts ...dynamo.Option) (*replica.Replica, error) {
	st := dynamo.New(db, dynamo.Tables{RevocationFeed: tables.Feed, RevocationSnapshot: tables.Snapshot}, opts...)
	r := replica.New(st, replica.Options{
		SyncInterval: time.Second, MaxStaleness: min(5*time.Minute, accessTokenTTL),
		Window: accessTokenTTL + 2*leeway,
	})
	return r, r.Load(ctx)
}
