package app

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/authkit/lambda-auth/shared/apigw"
	"github.com/authkit/lambda-auth/shared/dpop"
	"github.com/authkit/lambda-auth/shared/dynamo"
)

// DPoPReplayEntries bounds the authorizer's per-process record of accepted
// DPoP proofs (dpop.MemoryReplay, about 100 bytes an entry): a container
// serves one request at a time, so even at 1,000 DPoP requests a second it
// holds 70,000 within the iat window (60 s back, 10 s ahead). When full it
// refuses rather than forgets (dpop.ErrReplayFull).
const DPoPReplayEntries = 100_000

// dpopOption is the authorizer's DPoP check (RFC 9449 7.1): proofs of
// ES256 keys within the default iat window, recorded against replay
// (11.1) in this process's memory and, with DPOP_REPLAY shared (the
// default), once in DPOP_REPLAY_TABLE for the whole fleet, each write within
// AUTHORIZER_STORE_TIMEOUT (a store that does not answer denies). The
// request's public URL is https:// + the event's domain, or PUBLIC_ORIGIN.
func (w *wiring) dpopOption() (apigw.AuthorizerOption, error) {
	replay := dpop.Replay(dpop.NewMemoryReplay(DPoPReplayEntries, w.set.now))
	if w.cfg.DPoPReplay == "shared" {
		if err := w.cfg.Require("DPOP_REPLAY_TABLE"); err != nil {
			return nil, fmt.Errorf("DPOP_REPLAY shared: %w", err)
		}
		db := dynamodb.NewFromConfig(w.aws, func(o *dynamodb.Options) { o.RetryMaxAttempts = 2 })
		shared := dynamo.NewDPoPReplay(db, w.cfg.ProofReplayTable, w.set.now)
		replay = dpop.Chain(replay, boundedReplay{shared, w.cfg.AuthorizerStoreTimeout})
	}
	v, err := dpop.NewVerifier(dpop.WithReplay(replay), dpop.WithTimeFunc(w.set.now))
	if err != nil {
		return nil, fmt.Errorf("authorizer: %w", err)
	}
	return apigw.WithResourceDPoP(v, w.cfg.PublicOrigin), nil
}

// boundedReplay gives each call of a shared replay store a deadline.
type boundedReplay struct {
	r       dpop.Replay
	timeout time.Duration
}

func (b boundedReplay) Seen(ctx context.Context, jkt, jti string, until time.Time) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	return b.r.Seen(ctx, jkt, jti, until)
}
