package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
)

// functionNames are the folders of functions/, sorted.
func functionNames(o *options) ([]string, error) {
	mains, err := filepath.Glob(filepath.Join(o.root, "functions", "*", "main.go"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range mains {
		names = append(names, filepath.Base(filepath.Dir(m)))
	}
	sort.Strings(names)
	return names, nil
}

// buildFunctions builds every function as infra/Makefile does (CGO off,
// -tags lambda.norpc, -trimpath, -s -w), for goarch, into
// dir/<name>/bootstrap.
func buildFunctions(ctx context.Context, o *options, dir, goarch string) ([]string, error) {
	names, err := functionNames(o)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		out := filepath.Join(dir, name, "bootstrap")
		cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w",
			"-buildvcs=false", "-o", out, "./functions/"+name)
		cmd.Dir = o.root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s for %s: %v\n%s", name, goarch, err, b)
		}
	}
	return names, nil
}
