package guard

import (
	"context"
	"time"

	"github.com/authkit/lambda-auth/shared/dynamo"
	"github.com/authkit/lambda-auth/shared/replica"
)

// FeedReplica is a per-process replica of the stack's revocation feed
// table (the RevocationFeedTableName output), read with db (a
// *dynamodb.Client whose role may dynamodb:Query that table), as the
// authorizer keeps one: synced at most every second, deciding from its
// last view for up to 5 minutes of DynamoDB outage. accessTokenTTL and
// leeway are the stack's AccessTokenTTL and ClockLeeway. It loads the
// feed now; on an error it is returned anyway, without a view (lookups
// fail, so the Guard refuses, until a sync works). A stack whose feed is
// laid out in copies or shards (FeedCopies, FeedShards) needs the same
// layout here: dynamo.WithFeedLayout among opts.
func FeedReplica(ctx context.Context, db dynamo.API, feedTable string, accessTokenTTL, leeway time.Duration, opts ...dynamo.Option) (*replica.Replica, error) {
	r := replica.New(dynamo.New(db, dynamo.Tables{RevocationFeed: feedTable}, opts...), replica.Options{
		SyncInterval: time.Second, MaxStaleness: min(5*time.Minute, accessTokenTTL),
		Window: accessTokenTTL + 2*leeway,
	})
	return r, r.Load(ctx)
}
