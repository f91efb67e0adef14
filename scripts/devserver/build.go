package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// buildAll builds every function as SAM does (CGO off, -tags lambda.norpc,
// -trimpath, stripped) for this machine, laid out as dir/current/<folder>/
// bootstrap, in one go install (the go command builds packages side by
// side). It uses go install into dir/bin, which relinks only binaries whose
// sources changed (go build -o would relink every one every start). count,
// if not nil, follows the build (for the progress display).
func buildAll(ctx context.Context, root, dir string, count *buildCount) (string, error) {
	bin := filepath.Join(dir, "bin")
	mains, _ := filepath.Glob(filepath.Join(root, "functions", "*", "main.go"))
	if count == nil {
		count = &buildCount{}
	}
	count.init(bin, len(mains))
	// -v: the go command names each package it compiles (the progress).
	cmd := exec.CommandContext(ctx, "go", "install", "-v", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w", "./functions/...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH, "GOBIN="+bin)
	cmd.Stdout, cmd.Stderr = count, count
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go install ./functions/...: %v\n%s", err, count.output())
	}
	out := filepath.Join(dir, "current")
	if err := os.RemoveAll(out); err != nil {
		return "", err
	}
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

// buildCount follows a go install -v of the functions: the packages it
// compiled (the lines it prints) and the binaries it installed since it
// began (written, or touched when already up to date: go install does).
type buildCount struct {
	mu       sync.Mutex
	out      bytes.Buffer
	compiled int
	bin      string
	total    int
	begun    time.Time
}

func (b *buildCount) init(bin string, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bin, b.total, b.begun = bin, total, time.Now()
}

// Write takes the go command's output.
func (b *buildCount) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.out.Write(p)
	b.compiled = 0
	for _, line := range strings.Split(b.out.String(), "\n") {
		// go -v prints a package path alone on its line; "go: downloading"
		// and compiler errors are not that.
		if line != "" && !strings.ContainsAny(line, " \t:") {
			b.compiled++
		}
	}
	return len(p), nil
}

func (b *buildCount) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

// String is the progress: "40 packages compiled, 7 of 15 installed".
func (b *buildCount) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	linked := 0
	entries, _ := os.ReadDir(b.bin)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && !info.ModTime().Before(b.begun.Add(-time.Second)) {
			linked++
		}
	}
	return fmt.Sprintf("%d packages compiled, %d of %d installed", b.compiled, linked, b.total)
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
