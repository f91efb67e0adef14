package dynamo

import (
	"context"
	"time"

	"github.com/authkit/lambda-auth/shared/replica"
)

// FeedReplica is a per-process replica of the stack's revocation feed,
// for shared/guard's Config.Revocations in a Go service outside API
// Gateway: tables.RevocationFeed (the RevocationFeedTableName output) and
// tables.RevocationSnapshot (the RevocationSnapshotTableName output; empty:
// a cold start reads the feed's whole window, and a layout mismatch is
// seen only in the items read), read with db (a *dynamodb.Client whose
// role may dynamodb:Query the feed table and dynamodb:GetItem and
// BatchGetItem the snapshot table), as the
// authorizer keeps one: synced at most every second, deciding from its
// last view for up to 5 minutes of DynamoDB outage. accessTokenTTL and
// leeway are the stack's AccessTokenTTL and ClockLeeway. It loads the
// feed now; on an error it is returned anyway, without a view (lookups
// fail, so the Guard refuses, until a sync works). A stack whose feed is
// laid out in copies or shards (FeedCopies, FeedShards) needs the same
// layout here: WithFeedLayout among opts; a replica laid out otherwise
// than the feed's writers refuses its view (every request refused) and
// logs both layouts (feedlayout.go).
func FeedReplica(ctx context.Context, db API, tables Tables, accessTokenTTL, leeway time.Duration, opts ...Option) (*replica.Replica, error) {
	st := New(db, Tables{RevocationFeed: tables.RevocationFeed, RevocationSnapshot: tables.RevocationSnapshot}, opts...)
	r := replica.New(st, replica.Options{
		SyncInterval: time.Second, MaxStaleness: min(5*time.Minute, accessTokenTTL),
		Window: accessTokenTTL + 2*leeway,
	})
	return r, r.Load(ctx)
}
