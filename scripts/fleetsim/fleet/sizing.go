package fleet

import (
	"cmp"
	"math"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
	"github.com/authkit/lambda-auth/shared/replica"
)

// The share of a partition's ceilings a layout is sized to: readers pick
// their copy at random (an uneven spread), revocations arrive in bursts,
// and a throttled sync reads a longer span the next time, so a partition
// run near its ceiling tips over (the runs at the ceiling in BENCHMARKS.md
// collapse rather than degrade). Half leaves room for all three.
const (
	maxShards     = 32
	readHeadroom  = 0.5
	writeHeadroom = 0.5
)

// meanItemSize is the mean size of a feed item in the simulated mix (60 %
// token, 35 % session, 5 % user entries).
func meanItemSize() float64 {
	at := epoch
	return 0.60*float64(shapeSize(auth.RevokeToken, at, at.Unix())) +
		0.35*float64(shapeSize(auth.RevokeSession, at, at.Unix())) +
		0.05*float64(shapeSize(auth.RevokeUser, at, at.Unix()))
}

// ReadSpan is the span of stamps a busy replica's sync reads, from its
// settings (replica.Options SyncInterval and Overlap; zero overlap: the
// replica's default): its watermark is the newest stamp it read, counted
// only up to the store's clock at the sync's start as the replica knows
// it (a lower bound, from the Date of DynamoDB's answers, which has a
// resolution of a second: half a second early on average), less Overlap,
// and it syncs every SyncInterval, so each sync reads SyncInterval +
// Overlap + half a second of stamps, every item that many times over.
// Result.ReadSpan measures it.
func ReadSpan(sync, overlap time.Duration) time.Duration {
	return sync + cmp.Or(overlap, replica.DefaultOverlap) + dateResolution/2
}

// dateResolution is that of the Date header (RFC 9110 5.6.7: seconds).
const dateResolution = time.Second

// Recommend is the layout that serves readers authorizers syncing every
// sync with the given Overlap (zero: the replica's default, as the
// authorizer runs it), each sync reading ReadSpan of items, at rate
// revocations per second within half of every partition's ceilings, for
// the least on-demand cost: the smallest number of copies for each number
// of shards (1 to 32: a sync sends its Queries 8 at a time, so 32 is four
// rounds), the cheapest of those.
func Recommend(readers int, rate float64, sync, overlap time.Duration) dynamo.FeedLayout {
	return recommend(readers, rate, sync, overlap, false)
}

// recommend is Recommend for strongly consistent or eventually consistent
// Queries (half the units).
func recommend(readers int, rate float64, sync, overlap time.Duration, eventual bool) dynamo.FeedLayout {
	best, bestCost := dynamo.FeedLayout{Copies: 1, Shards: 1}, math.Inf(1)
	span := ReadSpan(sync, overlap).Seconds()
	size := meanItemSize()
	for w := 1; w <= maxShards; w *= 2 {
		if rate/float64(w)*WriteUnits(int(size)) > PartitionWriteCap*writeHeadroom {
			continue
		}
		perQuery, _ := QueryUnits(int(math.Ceil(rate*span*size/float64(w))), eventual)
		perSecond := float64(readers) / sync.Seconds() * perQuery // one Query per shard per reader per sync
		k := max(1, int(math.Ceil(perSecond/(PartitionReadCap*readHeadroom))))
		if k*w > dynamo.MaxFeedSlots {
			continue
		}
		cost := float64(readers)/sync.Seconds()*float64(w)*perQuery*USDPerRRU + 2*float64(k)*rate*WriteUnits(int(size))*USDPerWRU
		if cost < bestCost {
			best, bestCost = dynamo.FeedLayout{Copies: k, Shards: w}, cost
		}
	}
	return best
}
