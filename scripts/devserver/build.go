package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// buildAll builds every function as SAM does (CGO off, -tags lambda.norpc,
// -trimpath, stripped) for this machine, laid out as dir/current/<folder>/
// bootstrap. It uses go install into dir/bin, which relinks only binaries
// whose sources changed (go build -o would relink all eight every start).
func buildAll(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "bin")
	cmd := exec.CommandContext(ctx, "go", "install", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w", "./functions/...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH, "GOBIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install ./functions/...: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "current")
	if err := os.RemoveAll(out); err != nil {
		return "", err
	}
	mains, _ := filepath.Glob(filepath.Join(root, "functions", "*", "main.go"))
	for _, m := range mains {
		name := filepath.Base(filepath.Dir(m))
		if err := os.MkdirAll(filepath.Join(out, name), 0o755); err != nil {
			return "", err
		}
		// A link, not a copy: the emulator runs the file go install wrote.
		if err := os.Link(filepath.Join(bin, name), filepath.Join(out, name, "bootstrap")); err != nil {
			return "", err
		}
	}
	return out, nil
}

// buildOne builds one function folder into dir/<folder>/bootstrap.
func buildOne(ctx context.Context, root, folder, dir string) (string, error) {
	out := filepath.Join(dir, folder, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w", "-o", out, "./functions/"+folder)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./functions/%s: %v\n%s", folder, err, b)
	}
	return out, nil
}
