package dpop

import (
	"context"
	"time"
)

// Chain is a Replay that asks each of rs in turn and stops at the first
// that has seen the proof: a MemoryReplay in front of a shared store
// answers a replay within one process without a call, and records in the
// shared store only what the process had not seen. A proof counts as seen
// when any of them saw it; an error of any of them is the answer (the
// caller refuses the proof). An entry a store recorded before a later one
// failed stays: the proof was refused and cannot be used again, which a
// client making one proof per request never needs.
func Chain(rs ...Replay) Replay { return chain(rs) }

type chain []Replay

func (c chain) Seen(ctx context.Context, jkt, jti string, until time.Time) (bool, error) {
	for _, r := range c {
		seen, err := r.Seen(ctx, jkt, jti, until)
		if err != nil || seen {
			return seen, err
		}
	}
	return false, nil
}
