package dynamo

import (
	"context"
	"time"

	"github.com/authkit/lambda-auth/shared/replica"
)

// FeedReplica is a per-process replica of the stack's revocation feed
// table (the RevocationFeedTableName output), for shared/guard's
// Config.Revocations in a Go service outside API Gateway, read with db (a
// *dynamodb.Client whose role may dynamodb:Query, GetItem and BatchGetItem
// that table: the feed and its snapshot), as the
// authorizer keeps one: synced at most every second, deciding from its
// last view for up to 5 minutes of DynamoDB outage. accessTokenTTL and
// leeway are the stack's AccessTokenTTL and ClockLeeway. It loads the
// feed now; on an error it is returned anyway, without a view (lookups
// fail, so the Guard refuses, until a sync works). A stack whose feed is
// laid out in copies or shards (FeedCopies, FeedShards) needs the same
// layout here: WithFeedLayout among opts.
func FeedReplica(ctx context.Context, db API, feedTable string, accessTokenTTL, leeway time.Duration, opts ...Option) (*replica.Replica, error) {
	r := replica.New(New(db, Tables{RevocationFeed: feedTable}, opts...), replica.Options{
		SyncInterval: time.Second, MaxStaleness: min(5*time.Minute, accessTokenTTL),
		Window: accessTokenTTL + 2*leeway,
	})
	return r, r.Load(ctx)
}
