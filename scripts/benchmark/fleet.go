package main

import (
	"context"

	"github.com/authkit/lambda-auth/scripts/fleetsim/fleet"
)

// runFleet runs the fleet simulation (scripts/fleetsim/fleet): model time,
// no server; the same section `go run ./scripts/fleetsim -markdown
// BENCHMARKS.md` writes, seed 1.
func runFleet(_ context.Context, _ *options, r *report) error {
	r.fleet = fleet.Section(1)
	return nil
}
