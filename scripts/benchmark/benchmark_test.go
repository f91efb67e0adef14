package main

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/shared/config"
)

func TestPercentileNearestRank(t *testing.T) {
	v := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, tc := range []struct{ p, want float64 }{{50, 5}, {90, 9}, {99, 10}, {100, 10}, {1, 1}, {0, 1}} {
		if got := percentile(v, tc.p); got != tc.want {
			t.Errorf("percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median = %v, want 2", got)
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
	if v[0] != 5 {
		t.Error("percentile sorted its argument")
	}
}

func TestBenchLine(t *testing.T) {
	line := "BenchmarkAuthorizerES256-2   \t   14534\t     82536 ns/op\t     87040 cpu-ns/op\t    4296 B/op\t      37 allocs/op"
	m := benchLine.FindStringSubmatch(line)
	if m == nil || m[1] != "BenchmarkAuthorizerES256" || m[2] != "14534" {
		t.Fatalf("got %q", m)
	}
	if m := benchLine.FindStringSubmatch("BenchmarkWire/login-2 \t 5 \t 600351 ns/op"); m == nil || m[1] != "BenchmarkWire/login" {
		t.Errorf("sub-benchmark: got %q", m)
	}
}

func TestBilledDuration(t *testing.T) {
	// 256 MB is 256/1769 of a vCPU: 0.1 ms of CPU takes 0.69 ms; with 1 ms
	// of waiting, 1.69 ms, billed 2 ms.
	if got := billed(0.1, 1, 256); got != 2 {
		t.Errorf("billed = %v ms, want 2", got)
	}
	// At or above 1769 MB the CPU is not slowed down.
	if got := billed(3.5, 0, 4096); got != 4 {
		t.Errorf("billed = %v ms, want 4", got)
	}
}

func TestDynamoUnits(t *testing.T) {
	rru, wru := dynamoUnits(sample{"DynamoDB.GetItem/op": 1, "DynamoDB.BatchGetItem/op": 1, "DynamoDB.UpdateItem/op": 1,
		"DynamoDB.PutItem/op": 1, "DynamoDB.DeleteItem/op": 1, "KMS.Sign/op": 1})
	if rru != 4 || wru != 3 {
		t.Errorf("got %v RRU + %v WRU, want 4 + 3", rru, wru)
	}
}

func TestCostLine(t *testing.T) {
	c := newCostLine("x", 1024, 0, 1000, 3, 1, 1, priceKMSAsym, true, "")
	// 1 GB for 1 s: one GB-second per operation.
	if got, want := c.lambdaD, priceLambdaArmGBs.usd*1e6; math.Abs(got-want) > 1e-9 {
		t.Errorf("duration cost %v, want %v", got, want)
	}
	if got, want := c.total(), (priceLambdaRequest.usd+priceLambdaArmGBs.usd+3*priceRRU.usd+priceWRU.usd+priceKMSAsym.usd+priceHTTPAPI.usd)*1e6; math.Abs(got-want) > 1e-9 {
		t.Errorf("total %v, want %v", got, want)
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0.7: 1, 1.3: 2, 3: 5, 7: 10, 12: 20, 0: 1} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
}

// TestStackEnvIsTheTemplates: the functions the benchmark runs get the
// environment template.yaml gives them, resolved to the run's keys and
// tables (a hand-kept list once lacked MAC_KEY_ID, and login's cold start
// failed), and every function's configuration loads from it.
func TestStackEnvIsTheTemplates(t *testing.T) {
	root, err := localaws.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := localapi.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	s := &benchStack{tpl: tpl, keyARN: "arn:aws:kms:us-east-1:000000000000:key/sign", macARN: "arn:aws:kms:us-east-1:000000000000:key/mac",
		names: map[string]string{}}
	for id := range tpl.Tables {
		s.names[id] = id + "-bench-test"
	}
	for _, f := range tpl.Functions {
		vars := map[string]string{}
		for _, kv := range s.env(f.Folder) {
			k, v, _ := strings.Cut(kv, "=")
			vars[k] = v
		}
		if _, err := config.Load(func(k string) string { return vars[k] }); err != nil {
			t.Errorf("%s: %v", f.Folder, err)
		}
		for k, v := range vars {
			if strings.HasSuffix(k, "_TABLE") && !strings.HasSuffix(v, "-bench-test") {
				t.Errorf("%s: %s=%s, not this run's table", f.Folder, k, v)
			}
		}
	}
	login := s.env("login")
	for _, want := range []string{"MAC_KEY_ID=" + s.macARN, "SIGNING_KEY_ID=" + s.keyARN, "ISSUER=" + benchIssuer, "AUDIENCE=" + benchAudience} {
		if !slices.Contains(login, want) {
			t.Errorf("login's environment lacks %s: %q", want, login)
		}
	}
}
