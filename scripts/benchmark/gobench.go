package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// sample is one run of one Go benchmark: its metrics by unit ("ns/op",
// "cpu-ns/op", "allocs/op", "kms-calls/op", ...).
type sample map[string]float64

// buildTest compiles the tests of pkg (a path below the repository root)
// into a binary in the scratch folder.
func buildTest(ctx context.Context, o *options, pkg string) (string, error) {
	bin := filepath.Join(o.scratch, strings.ReplaceAll(pkg, "/", "_")+".test")
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, "./"+pkg)
	cmd.Dir = o.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go test -c ./%s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

// runBench runs one benchmark binary (in the package's folder, as go test
// does) and returns the samples of the benchmarks it printed.
func runBench(ctx context.Context, bin, dir string, env []string, args ...string) (map[string]sample, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"-test.run", "^$", "-test.benchmem", "-test.count", "1"}, args...)...)
	cmd.Dir = dir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out.String())
	}
	res, err := parseBench(out.Bytes())
	if err != nil {
		return nil, err
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("%s %s printed no benchmark:\n%s", filepath.Base(bin), strings.Join(args, " "), out.String())
	}
	return res, nil
}

// parseBench reads the samples of go test -bench output, by benchmark name
// without "Benchmark" and the -GOMAXPROCS suffix ("Wire/login").
func parseBench(out []byte) (map[string]sample, error) {
	res := map[string]sample{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		s := sample{}
		s["iterations"], _ = strconv.ParseFloat(m[2], 64)
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("parse benchmark line %q: %w", sc.Text(), err)
			}
			s[f[i+1]] = v
		}
		res[strings.TrimPrefix(m[1], "Benchmark")] = s
	}
	return res, sc.Err()
}

// interleaved runs each named benchmark once per round, one process per
// run, in an order that alternates between rounds, and returns every
// benchmark's samples in round order.
func interleaved(ctx context.Context, bin, dir string, env []string, names []string, rounds int, benchtime func(string) string) (map[string][]sample, error) {
	all := map[string][]sample{}
	for r := 0; r < rounds; r++ {
		order := append([]string(nil), names...)
		if r%2 == 1 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		for _, name := range order {
			res, err := runBench(ctx, bin, dir, env, "-test.bench", "^Benchmark"+name+"$", "-test.benchtime", benchtime(name))
			if err != nil {
				return nil, err
			}
			s, ok := res[name]
			if !ok {
				return nil, fmt.Errorf("benchmark %s did not run", name)
			}
			all[name] = append(all[name], s)
		}
	}
	return all, nil
}

// values is one metric of each sample.
func values(samples []sample, unit string) []float64 {
	v := make([]float64, len(samples))
	for i, s := range samples {
		v[i] = s[unit]
	}
	return v
}

// ratios is a[i]/b[i]: same-round ratios.
func ratios(a, b []float64) []float64 {
	r := make([]float64, min(len(a), len(b)))
	for i := range r {
		r[i] = a[i] / b[i]
	}
	return r
}

func benchEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_CA_BUNDLE=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}
