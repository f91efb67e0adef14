// Command fleetsim simulates a fleet of authorizers reading the revocation
// feed (package scripts/fleetsim/fleet): deterministic, on a simulated
// clock, a minute of model time in seconds of real time.
//
//	go run ./scripts/fleetsim -readers 10000 -rate 1000 -copies 40 -shards 32
//	                                   one run, its numbers on stdout
//	go run ./scripts/fleetsim -readers 1000 -rate 100 -overlap 5s -recommended
//	                                   the replica with another Overlap (default: the
//	                                   authorizer's, replica.DefaultOverlap)
//	go run ./scripts/fleetsim -readers 10000 -rate 1000 -recommended
//	                                   the same with the layout Recommend picks
//	go run ./scripts/fleetsim -flood 60 -budget 20 -readers 10000 -rate 10
//	                                   one user's loop of revocations on top
//	go run ./scripts/fleetsim -recommend 3000,100
//	                                   the layout for 3,000 busy authorizers at 100 revocations/s
//	go run ./scripts/fleetsim -markdown BENCHMARKS.md
//	                                   every cell of the table, written into
//	                                   BENCHMARKS.md between its markers (scripts/bench
//	                                   writes the same section)
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/authkit/lambda-auth/scripts/fleetsim/fleet"
	"github.com/authkit/lambda-auth/shared/dynamo"
)

func main() {
	var (
		cfg         fleet.Config
		recommended bool
		markdown    string
		recommend   string
	)
	flag.IntVar(&cfg.Readers, "readers", 1000, "busy authorizer containers, each with its replica")
	flag.Float64Var(&cfg.Rate, "rate", 100, "revocations per second over the user population")
	flag.DurationVar(&cfg.Duration, "duration", time.Minute, "simulated time of revocations")
	flag.IntVar(&cfg.Layout.Copies, "copies", 1, "feed copies (FeedCopies)")
	flag.IntVar(&cfg.Layout.Shards, "shards", 1, "shards per copy (FeedShards)")
	flag.BoolVar(&recommended, "recommended", false, "use the layout fleet.Recommend picks for -readers and -rate")
	flag.BoolVar(&cfg.Eventual, "eventual", false, "eventually consistent Queries (half the units)")
	flag.DurationVar(&cfg.EventualLag, "eventual-lag", time.Second, "with -eventual: how late an item may be visible (AWS documents no bound)")
	flag.DurationVar(&cfg.Sync, "sync", time.Second, "REVOCATION_SYNC")
	flag.DurationVar(&cfg.Overlap, "overlap", 0, "the replica's Overlap (0: replica.DefaultOverlap, as the authorizer runs)")
	flag.Float64Var(&cfg.Flood.Rate, "flood", 0, "one user's revocations per second on top of -rate")
	flag.IntVar(&cfg.Flood.PerMinute, "budget", 20, "with -flood: the per-user budget of feed items per minute (0: none)")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "random seed (same seed, same numbers)")
	flag.StringVar(&markdown, "markdown", "", "write every cell into this Markdown file between the fleetsim markers")
	flag.StringVar(&recommend, "recommend", "", "READERS,RATE: print the layout for that fleet and peak rate")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("fleetsim: ")

	switch {
	case recommend != "":
		n, v, ok := strings.Cut(recommend, ",")
		readers, err1 := strconv.Atoi(n)
		rate, err2 := strconv.ParseFloat(v, 64)
		if !ok || err1 != nil || err2 != nil {
			log.Fatalf("-recommend wants READERS,RATE, got %q", recommend)
		}
		l := fleet.Recommend(readers, rate, cfg.Sync, cfg.Overlap)
		fmt.Printf("FeedCopies=%d FeedShards=%d\n", l.Copies, l.Shards)
	case markdown != "":
		doc, err := os.ReadFile(markdown)
		if err != nil && !os.IsNotExist(err) {
			log.Fatal(err)
		}
		t0 := time.Now()
		if err := os.WriteFile(markdown, fleet.Splice(doc, fleet.Section(cfg.Seed)), 0o644); err != nil {
			log.Fatal(err)
		}
		log.Printf("%s written in %s", markdown, time.Since(t0).Round(time.Millisecond))
	default:
		if recommended {
			cfg.Layout = fleet.Recommend(cfg.Readers, cfg.Rate, cfg.Sync, cfg.Overlap)
		}
		if err := (dynamo.FeedLayout{Copies: cfg.Layout.Copies, Shards: cfg.Layout.Shards}).Validate(); err != nil {
			log.Fatal(err)
		}
		r := fleet.Run(cfg)
		fmt.Printf("readers %d, %g revocations/s, flood %g/s, layout %d × %d, eventual %v\n", cfg.Readers, cfg.Rate, cfg.Flood.Rate,
			max(cfg.Layout.Copies, 1), max(cfg.Layout.Shards, 1), cfg.Eventual)
		fmt.Printf("reads: %d calls, %d throttled; writes: %d calls, %d throttled, %d lost; sync failures %d\n",
			r.ReadCalls, r.ThrottledReads, r.WriteCalls, r.ThrottledWrites, r.LostWrites, r.SyncFailures)
		fmt.Printf("enforcement: p50 %s, p99 %s, max %s; %d of %d probes never reached every replica\n",
			r.EnforceP50, r.EnforceP99, r.EnforceMax, r.Unenforced, r.Probes)
		fmt.Printf("max partition: %.0f read units/s, %.0f write units/s; served %.0f RRU/s, %.0f WRU/s: $%.2f per day\n",
			r.MaxPartitionRU, r.MaxPartitionWU, r.RRUPerSecond, r.WRUPerSecond, r.CostPerDay())
		fmt.Printf("mean span read by a warm sync: %s (ReadSpan: %s)\n", r.ReadSpan.Round(time.Millisecond), fleet.ReadSpan(cfg.Sync, cfg.Overlap))
		fmt.Printf("time without a decision view: %.2f %%; simulated in %s\n", 100*r.DeniedShare, r.Elapsed.Round(time.Millisecond))
	}
}
