package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestScriptNamesEveryFlag: scripts/create-user --help prints the script's
// header (before any build), so the header must name every flag the command
// takes, as the command's own -h lists them.
func TestScriptNamesEveryFlag(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	runErr := run(context.Background(), []string{"-h"}, strings.NewReader(""), io.Discard, func(string) string { return "" })
	os.Stderr = stderr
	w.Close()
	usage, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(runErr, flag.ErrHelp) {
		t.Fatalf("run -h: %v, want flag.ErrHelp", runErr)
	}
	flags := regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(string(usage), -1)
	if len(flags) < 5 {
		t.Fatalf("run -h listed %d flags, want every one:\n%s", len(flags), usage)
	}
	script, err := os.ReadFile("../create-user")
	if err != nil {
		t.Fatal(err)
	}
	var header []string
	for _, line := range strings.Split(string(script), "\n")[1:] {
		if !strings.HasPrefix(line, "#") {
			break
		}
		header = append(header, line)
	}
	text := strings.Join(header, "\n")
	for _, f := range flags {
		if !regexp.MustCompile(`(^|[\s(,])-` + regexp.QuoteMeta(f[1]) + `\b`).MatchString(text) {
			t.Errorf("scripts/create-user's header (its --help) does not name -%s", f[1])
		}
	}
}
