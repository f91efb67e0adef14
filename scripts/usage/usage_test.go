package usage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"syscall"
	"testing"
	"time"
)

// scripts are the repository's commands, as a user types them.
var scripts = []string{
	"scripts/bench", "scripts/create-user", "scripts/dev", "scripts/fuzz", "scripts/install-tools",
	"scripts/invoke", "scripts/local-servers", "scripts/rotate-key", "scripts/test", ".ci/run",
}

// tools are what a script could install, build or start anything with: each
// is replaced by a stand-in that writes its call to a log and fails, so a
// script that reaches one before printing its usage is caught.
var tools = []string{
	"go", "gofmt", "node", "npm", "npx", "java", "apt-get", "cfn-lint", "chromium", "valgrind", "curl", "sam", "aws",
}

// TestScriptsAnswerHelp runs every script with --help and -h in a copy of
// the scripts alone (a root with no .local, no sources) with every tool
// above replaced: it must print a usage line naming itself, exit 0, call
// no tool, create no file and leave no process behind.
func TestScriptsAnswerHelp(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	shims := t.TempDir()
	calls := filepath.Join(t.TempDir(), "calls.log")
	for _, tool := range tools {
		shim := "#!/bin/sh\necho \"" + tool + " $*\" >>'" + calls + "'\nexit 3\n"
		if err := os.WriteFile(filepath.Join(shims, tool), []byte(shim), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, script := range scripts {
		for _, flag := range []string{"--help", "-h"} {
			t.Run(script+" "+flag, func(t *testing.T) {
				root := t.TempDir()
				for _, s := range scripts {
					copyFile(t, filepath.Join(repo, s), filepath.Join(root, s))
				}
				before := tree(t, root)
				os.Remove(calls)

				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				var stdout, stderr bytes.Buffer
				cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, script), flag)
				cmd.Dir = root
				cmd.Env = append(os.Environ(), "PATH="+shims+string(os.PathListSeparator)+os.Getenv("PATH"))
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
				err := cmd.Run()
				if ctx.Err() != nil {
					t.Fatalf("%s %s did not return within 30s (it does some work before its usage)", script, flag)
				}
				if err != nil {
					t.Errorf("%s %s: %v, want exit 0; stderr:\n%s", script, flag, err, stderr.String())
				}
				usage := regexp.MustCompile(`(?m)^\s*(usage: |bash )?([A-Z_]+=\S+ )*` + regexp.QuoteMeta(script) + `(\s|$)`)
				if !usage.Match(stdout.Bytes()) {
					t.Errorf("%s %s printed no usage line (a line starting with %q) on stdout:\n%s", script, flag, script, stdout.String())
				}
				if b, err := os.ReadFile(calls); err == nil {
					t.Errorf("%s %s ran tools before (or instead of) its usage:\n%s", script, flag, b)
				}
				if after := tree(t, root); !slices.Equal(before, after) {
					t.Errorf("%s %s changed the files of its root:\nbefore %q\nafter  %q", script, flag, before, after)
				}
				// Nothing started in the background lives on (a server, a build).
				if err := syscall.Kill(-cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
					syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					t.Errorf("%s %s left processes behind (process group %d: %v)", script, flag, cmd.Process.Pid, err)
				}
			})
		}
	}
}

// TestEveryScriptIsListed keeps the list above whole: every executable
// file in scripts/ is a command a user may run with --help.
func TestEveryScriptIsListed(t *testing.T) {
	entries, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().IsRegular() && info.Mode()&0o111 != 0 && !slices.Contains(scripts, "scripts/"+e.Name()) {
			t.Errorf("scripts/%s is not in this test's list of scripts: add it", e.Name())
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// tree lists every path under root with its size and modification time.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			out = append(out, rel+"/")
		} else {
			out = append(out, fmt.Sprintf("%s %d %s", rel, info.Size(), info.ModTime()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
