package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

const appPkg = "shared/app"

var serviceBenches = []string{"Authorize", "AuthorizeStrict", "Login", "Refresh", "KMSSign", "DynamoDBGetItem", "RevocationLookup"}

type serviceResult struct {
	samples map[string][]sample
	wire    map[string]sample // BenchmarkWire/<function>
	// functions are the folders of functions/, and initEnv the environment
	// template.yaml gives each: what judgeInit reads.
	functions []string
	initEnv   map[string]map[string]string
	cmd       string
	wireCmd   string
}

func runServices(ctx context.Context, o *options, r *report) error {
	for _, v := range []string{"AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_DYNAMODB"} {
		if os.Getenv(v) == "" {
			return fmt.Errorf("%s is not set: run through scripts/bench, which starts local KMS and DynamoDB", v)
		}
	}
	bin, err := buildTest(ctx, o, appPkg)
	if err != nil {
		return err
	}
	benchtime := func(name string) string {
		switch name {
		case "Login":
			return "20x" // argon2id: tens of milliseconds each
		case "Refresh":
			return "100x"
		}
		return "400x"
	}
	samples, err := interleaved(ctx, bin, filepath.Join(o.root, appPkg), benchEnv(), serviceBenches, o.svcRounds, benchtime)
	if err != nil {
		return err
	}
	wire, err := runBench(ctx, bin, filepath.Join(o.root, appPkg), benchEnv(), "-test.bench", "^BenchmarkWire$", "-test.benchtime", "5x")
	if err != nil {
		return err
	}
	functions, err := functionNames(o)
	if err != nil {
		return err
	}
	initEnv, err := templateEnv(o.root, functions)
	if err != nil {
		return err
	}
	r.services = serviceResult{samples: samples, wire: wire, functions: functions, initEnv: initEnv,
		wireCmd: fmt.Sprintf("scripts/local-servers -- go test -run '^$' -bench '^BenchmarkWire$' -benchtime 5x ./%s/", appPkg),
		cmd:     fmt.Sprintf("scripts/local-servers -- go test -run '^$' -bench '^Benchmark(Authorize|AuthorizeStrict|Login|Refresh|KMSSign|DynamoDBGetItem|RevocationLookup)$' -count %d ./%s/", o.svcRounds, appPkg)}
	return nil
}
