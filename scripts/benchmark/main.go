// Command benchmark is the Go half of scripts/bench: it runs every benchmark
// of the service, measures the authorizer end to end and the cold start of
// every function, sizes the deployment zips, and writes BENCHMARKS.md and
// the latency plot from what it measured in this run.
//
// Run it through scripts/bench, which installs the tools and starts local
// KMS and DynamoDB (AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL_DYNAMODB) first.
//
//	go run ./scripts/benchmark -out BENCHMARKS.md -plot infra/bench/authorizer-latency.svg
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/authkit/lambda-auth/scripts/localaws"
)

type options struct {
	root        string // repository root
	out, plot   string
	rounds      int    // rounds of the CPU benchmarks, interleaved
	svcRounds   int    // rounds of the login/refresh benchmarks
	requests    int    // end-to-end requests
	coldRuns    int    // cold starts per function
	via         string // "rie" or "gateway"
	callgrind   bool
	scratch     string
	startedAt   time.Time
	benchScript string // the command that reproduces the whole run
	only        string // run only this step and print its section
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "BENCHMARKS.md", "report to write")
	flag.StringVar(&o.plot, "plot", "infra/bench/authorizer-latency.svg", "latency plot to write (SVG)")
	flag.IntVar(&o.rounds, "rounds", 7, "rounds of the CPU benchmarks (each benchmark once per round, interleaved)")
	flag.IntVar(&o.svcRounds, "service-rounds", 3, "rounds of the login and refresh benchmarks")
	flag.IntVar(&o.requests, "requests", 2000, "end-to-end authorizer requests")
	flag.IntVar(&o.coldRuns, "cold-runs", 15, "cold starts per function")
	flag.StringVar(&o.via, "via", "gateway", `end to end through "rie" (each function under aws-lambda-rie) or "gateway" (scripts/dev)`)
	flag.BoolVar(&o.callgrind, "callgrind", true, "also count instructions with valgrind --tool=callgrind when it is installed")
	flag.StringVar(&o.benchScript, "command", "scripts/bench", "the command to print as reproducing the whole report")
	flag.StringVar(&o.only, "only", "", `run only the step of this name (e.g. "replica cold load") and print its section instead of writing the report`)
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench: ")

	root, err := localaws.RepoRoot()
	if err != nil {
		log.Fatal(err)
	}
	o.root = root
	o.startedAt = time.Now().UTC()
	o.scratch, err = os.MkdirTemp("", "lambda-auth-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(o.scratch)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &o); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, o *options) error {
	r := &report{opts: o, machine: describeMachine(ctx)}
	steps := []struct {
		name string
		fn   func(context.Context, *options, *report) error
	}{
		{"authorizer CPU benchmarks", runCPU},
		{"instruction counts", runInstructions},
		{"login and refresh benchmarks", runServices},
		{"sign-in through scripts/dev", runSignIn},
		{"authorizer end to end", runEndToEnd},
		{"Node peers", runPeers},
		{"replica load", runReplicaLoad},
		{"replica cold load", runColdLoad},
		{"revocation latency and outage", runRevocationLatency},
		{"revocation feed writers", runWriters},
		{"cold starts", runColdStarts},
		{"zip sizes", runZips},
		{"fleet simulation", runFleet},
		{"dpop", runDPoP},
	}
	for _, s := range steps {
		if o.only != "" && s.name != o.only {
			continue
		}
		t0 := time.Now()
		log.Printf("%s...", s.name)
		if err := s.fn(ctx, o, r); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		log.Printf("%s: done in %s", s.name, time.Since(t0).Round(time.Second))
	}
	if o.only == "dpop" {
		return writeDPoPAlone(o, r)
	}
	if o.only != "" {
		var w mdWriter
		if o.only == "sign-in through scripts/dev" {
			r.signIn.alone = fmt.Sprintf("This section was written by `go run ./scripts/benchmark -only '%s'` on %s, alone (not in a whole `scripts/bench` run), load average (1, 5, 15 min) %s at the start and %s at the end on %d cores; the next `scripts/bench` writes it again.",
				o.only, o.startedAt.Format("2006-01-02 15:04 MST"), r.machine.loadBefore, loadAverage(), r.machine.cores)
			r.writeSignIn(&w)
			_, err := os.Stdout.Write(w.Bytes())
			return err
		}
		r.coldLoad.alone = fmt.Sprintf("This section was written by `go run ./scripts/benchmark -only '%s'` on %s, alone (not in a whole `scripts/bench` run), against `%s`; the next `scripts/bench` writes it again.",
			o.only, o.startedAt.Format("2006-01-02 15:04 MST"), r.coldLoad.endpoint)
		r.writeColdLoad(&w)
		_, err := os.Stdout.Write(w.Bytes())
		return err
	}
	r.machine.loadAfter = loadAverage()
	r.duration = time.Since(o.startedAt)
	if err := writePlot(o.path(o.plot), r); err != nil {
		return err
	}
	return os.WriteFile(o.path(o.out), r.markdown(), 0o644)
}

// path resolves a path given relative to the repository root.
func (o *options) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(o.root, p)
}
