package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
)

// The authorizer's warm path and its floors, for each algorithm.
type algBench struct {
	alg                       string
	subject, floor, golangJWT string // benchmark names
	floorDesc                 string
}

var algBenches = []algBench{
	{"ES256", "AuthorizerES256", "FloorES256", "GolangJWTParseES256", "ecdsa.VerifyASN1(pub, sha256(signing input), DER signature)"},
	{"RS256", "AuthorizerRS256", "FloorRS256", "GolangJWTParseRS256", "rsa.VerifyPKCS1v15(pub, SHA-256, sha256(signing input), signature)"},
}

const apigwPkg = "shared/apigw"

// The authorizer in replica mode, with the verified-token cache: a token
// seen before, and one not seen before (issue 11's goals: at most 0.10 ×
// and 1.15 × the bare ES256 check).
const (
	cachedES256   = "AuthorizerCachedES256"
	newTokenES256 = "AuthorizerNewTokenES256"
	cachedGoal    = 0.10
)

type cpuResult struct {
	samples  map[string][]sample
	benchCmd string
	// instructions per operation (callgrind), by benchmark; empty without valgrind
	instr     map[string]float64
	instrCmd  string
	instrNote string
}

func runCPU(ctx context.Context, o *options, r *report) error {
	bin, err := buildTest(ctx, o, apigwPkg)
	if err != nil {
		return err
	}
	var names []string
	for _, a := range algBenches {
		names = append(names, a.subject, a.floor, a.golangJWT)
	}
	names = append(names, cachedES256, newTokenES256)
	samples, err := interleaved(ctx, bin, filepath.Join(o.root, apigwPkg), benchEnv(), names, o.rounds,
		func(string) string { return "1s" })
	if err != nil {
		return err
	}
	r.cpu.samples = samples
	r.cpu.benchCmd = fmt.Sprintf("go test -run '^$' -bench '^Benchmark(Authorizer|AuthorizerCached|AuthorizerNewToken|Floor|GolangJWTParse)(ES|RS)256$' -benchmem -benchtime 1s -count %d ./%s/", o.rounds, apigwPkg)
	return nil
}

// Instruction counts do not depend on what else runs on the machine, so
// they check the same-run time ratios. Each benchmark's loop calls one
// function per operation; callgrind counts only inside it
// (--toggle-collect), so setup is left out.
var perOpFunc = map[string]string{
	"AuthorizerES256": "*apigw_test.invokeOnce", "AuthorizerRS256": "*apigw_test.invokeOnce",
	cachedES256: "*apigw_test.invokeOnce", newTokenES256: "*apigw_test.invokeOnce",
	"FloorES256": "*apigw_test.floorES256Once", "FloorRS256": "*apigw_test.floorRS256Once",
	"GolangJWTParseES256": "*apigw_test.golangJWTOnce", "GolangJWTParseRS256": "*apigw_test.golangJWTOnce",
}

var collected = regexp.MustCompile(`Collected : (\d+)`)

func runInstructions(ctx context.Context, o *options, r *report) error {
	r.cpu.instr = map[string]float64{}
	if !o.callgrind {
		r.cpu.instrNote = "not measured (-callgrind=false)"
		return nil
	}
	valgrind, err := exec.LookPath("valgrind")
	if err != nil {
		r.cpu.instrNote = "not measured: valgrind is not installed"
		log.Print(r.cpu.instrNote)
		return nil
	}
	bin, err := buildTest(ctx, o, apigwPkg)
	if err != nil {
		return err
	}
	// The loop calls the per-op function exactly n times (b.Loop with
	// -benchtime Nx); setup and warm-up are outside it.
	const n = 200
	for name, fn := range perOpFunc {
		cmd := exec.CommandContext(ctx, valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null",
			"--toggle-collect="+fn, bin, "-test.run", "^$", "-test.bench", "^Benchmark"+name+"$",
			"-test.benchtime", strconv.Itoa(n)+"x", "-test.cpu", "1")
		cmd.Dir = filepath.Join(o.root, apigwPkg)
		// Go's asynchronous preemption signals trip callgrind, and under
		// valgrind's one-thread-at-a-time scheduling runtime.GC spins for
		// minutes waiting for the sweeper unless GOMAXPROCS is 1. The
		// benchmarks are single-threaded work: neither changes what is
		// measured.
		cmd.Env = benchEnv("GODEBUG=asyncpreemptoff=1")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("callgrind %s: %v\n%s", name, err, out.String())
		}
		m := collected.FindSubmatch(out.Bytes())
		if m == nil {
			return fmt.Errorf("callgrind %s: no count in\n%s", name, out.String())
		}
		total, err := strconv.ParseFloat(string(m[1]), 64)
		if err != nil {
			return err
		}
		r.cpu.instr[name] = total / n
	}
	r.cpu.instrCmd = fmt.Sprintf("GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --toggle-collect='<per-op function>' ./apigw.test -test.run '^$' -test.bench '^Benchmark<name>$' -test.benchtime %dx -test.cpu 1   # in %s, binary from go test -c; instructions / %d", n, apigwPkg, n)
	return nil
}
