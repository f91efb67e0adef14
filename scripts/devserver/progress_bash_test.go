package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/authkit/lambda-auth/scripts/localaws"
)

// TestProgressBash runs scripts/progress.bash (install-tools' display)
// with three steps, one of them failing, and checks its plain lines (stderr
// is no terminal here) and its terminal line (PROGRESS_TTY=1).
func TestProgressBash(t *testing.T) {
	root, err := localaws.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// The slow step ends 2.5 s after the other two have (their marker
	// files), however loaded the machine: the display shows it running
	// alone, 2 of 3 done, at one tick (PROGRESS_EVERY=1) at least.
	script := `. "$1"
export MARKS=$(mktemp -d)
progress_init demo
progress_step "slow one" sh -c 'until [ -e "$MARKS/go" ] && [ -e "$MARKS/broken" ]; do sleep 0.05; done; sleep 2.5; echo "demo: slow one finished"'
progress_step --go "a go build" sh -c 'echo "go: downloading example.com/m v1.0.0"; echo example.com/m; echo example.com/m/sub; echo fmt; echo "demo: built"; touch "$MARKS/go"'
progress_step "broken" sh -c 'echo "what went wrong"; touch "$MARKS/broken"; exit 3'
progress_wait; echo "status $?" >&2; rm -r "$MARKS"`
	run := func(tty string) string {
		cmd := exec.Command("bash", "-c", script, "bash", filepath.Join(root, "scripts", "progress.bash"))
		cmd.Env = append(cmd.Environ(), "PROGRESS_TTY="+tty, "PROGRESS_EVERY=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return string(out)
	}

	plain := run("0")
	for _, re := range []string{
		`(?m)^demo: \[0/3 done, \ds\] started side by side: slow one · a go build · broken$`,
		`(?m)^demo: \[\d/3 done, \ds\] a go build: done in \ds \(1 modules downloaded, 3 packages compiled\): built$`,
		`(?m)^demo: \[\d/3 done, \ds\] broken: FAILED \(exit 3\) after \ds; its output:\n    what went wrong$`,
		`(?m)^demo: \[2/3 done, \ds\] running: slow one \ds$`,
		`(?m)^demo: \[3/3 done, \ds\] slow one: done in \ds: slow one finished$`,
		`(?m)^status 1$`,
	} {
		if !regexp.MustCompile(re).MatchString(plain) {
			t.Errorf("plain progress lacks %s:\n%s", re, plain)
		}
	}
	if strings.ContainsAny(plain, "\r\033") {
		t.Errorf("plain progress holds terminal control characters: %q", plain)
	}

	tty := run("1")
	if !regexp.MustCompile(`\r\033\[Kdemo: \[2/3 done, \ds\] slow one \ds`).MatchString(tty) {
		t.Errorf("terminal progress lacks the line rewritten in place (\\r, clear, [n/m done, elapsed] running steps): %q", tty)
	}
	if strings.Contains(tty, "started side by side") {
		t.Errorf("terminal progress prints a line per start: %q", tty)
	}
}
