package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// buildFlags are the functions' build flags here: SAM's (infra/Makefile:
// -tags lambda.norpc, -trimpath, -ldflags=-s -w; CGO off in the
// environment) and two that only save work. -gcflags=all=-dwarf=false:
// the linker's -w drops the debug information anyway, so the compiler need
// not write it (the binaries run the same). -p NumCPU with GOMAXPROCS=1 in
// the environment (buildEnv): one single-threaded compiler per core, whose
// extra threads would only add memory and page faults while every core is
// busy (about 6% of a cold first run's CPU here). scripts/install-tools
// builds the runner and the tools with the same flags (GO_BUILD_FLAGS), so
// that the packages they share with the functions, the standard library
// first, compile once.
var buildFlags = []string{"-p", strconv.Itoa(runtime.NumCPU()), "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-gcflags=all=-dwarf=false"}

// buildEnv is the environment of a build of the functions for this machine.
func buildEnv(extra ...string) []string {
	return append(append(os.Environ(), "GOMAXPROCS=1", "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH), extra...)
}

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
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"install", "-v"}, buildFlags...), "./functions/...")...)
	cmd.Dir = root
	cmd.Env = buildEnv("GOBIN=" + bin)
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
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"build"}, buildFlags...), "-o", out, "./functions/"+folder)...)
	cmd.Dir = root
	cmd.Env = buildEnv()
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./functions/%s: %v\n%s", folder, err, b)
	}
	return out, nil
}

// installGoTools runs scripts/install-tools --dev --go-tools: local-kms and
// aws-lambda-rie, which scripts/dev's own install leaves to this program
// (--runner-first) so that they build beside the functions, with which
// they share no package but the standard library (compiled by then, in the
// runner's build), and while DynamoDB Local's JVM starts. Its output goes
// to logPath and to follow (the progress). Already installed, it takes a
// fraction of a second.
func installGoTools(ctx context.Context, root, logPath string, follow *toolsProgress) error {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "install-tools"), "--dev", "--go-tools")
	cmd.Dir = root
	// Plain progress lines (into the log), every 2 s for the display here.
	cmd.Env = append(os.Environ(), "PROGRESS_TTY=0", "PROGRESS_EVERY=2")
	cmd.Stdout, cmd.Stderr = log, follow.into(log)
	// A process group of its own, ended as a whole (its go commands and
	// compilers too) when scripts/dev is stopped.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b, _ := os.ReadFile(logPath)
		return fmt.Errorf("scripts/install-tools --dev --go-tools (local-kms, aws-lambda-rie): %v\n%s", err, b)
	}
	return nil
}

// toolsProgress follows install-tools' plain progress lines: how many
// packages its go commands compiled, and its last line.
type toolsProgress struct {
	mu       sync.Mutex
	w        *os.File
	partial  []byte
	compiled string // "50 packages compiled"
	last     string
}

var toolsCompiled = regexp.MustCompile(`\((?:\d+ modules downloaded, )?(\d+ packages compiled)\)`)

func (t *toolsProgress) into(w *os.File) *toolsProgress {
	t.w = w
	return t
}

// Write takes install-tools' stderr (and copies it to the log).
func (t *toolsProgress) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.w != nil {
		t.w.Write(p)
	}
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := strings.TrimPrefix(string(t.partial[:i]), "install-tools: ")
		t.partial = t.partial[i+1:]
		if line == "" {
			continue
		}
		t.last = line
		if m := toolsCompiled.FindStringSubmatch(line); m != nil {
			t.compiled = m[1]
		}
	}
}

// detail is the running step's: "50 packages compiled".
func (t *toolsProgress) detail() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.compiled
}

// result is install-tools' last line, without its "[1/1 done, 40s] ".
func (t *toolsProgress) result() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, rest, ok := strings.Cut(t.last, "] "); ok && strings.HasPrefix(t.last, "[") {
		return rest
	}
	return t.last
}
