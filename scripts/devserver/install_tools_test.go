package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/authkit/lambda-auth/scripts/localaws"
)

// fakeGo is a go command that logs its arguments and, for go install,
// writes the binary its last argument names into GOBIN (for go version -m
// it prints nothing: the tool is then not the pinned one).
const fakeGo = `#!/bin/sh
printf '%s\n' "$*" >>"$FAKE_GO_LOG"
if [ "$1" = install ]; then
	for last; do :; done
	name=${last%@*}
	name=${name##*/}
	[ -n "$GOBIN" ] && mkdir -p "$GOBIN" && : >"$GOBIN/$name" && chmod +x "$GOBIN/$name"
	[ "$2" = -v ] && echo "example.com/$name"
fi
exit 0
`

// installToolsIn runs a copy of scripts/install-tools in a folder of its
// own (its .local/ there, DynamoDB Local linked from this repository) with
// a fake go, and returns what go was asked to do and the output.
func installToolsIn(t *testing.T, args ...string) (goCalls, out string) {
	t.Helper()
	root, err := localaws.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	fake := t.TempDir()
	for _, d := range []string{"scripts", ".local", "bin"} {
		os.MkdirAll(filepath.Join(fake, d), 0o755)
	}
	for _, f := range []string{"install-tools", "progress.bash"} {
		b, err := os.ReadFile(filepath.Join(root, "scripts", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(fake, "scripts", f), b, 0o755)
	}
	if err := os.Symlink(filepath.Join(root, ".local", "dynamodb-local"), filepath.Join(fake, ".local", "dynamodb-local")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(fake, "bin", "go"), []byte(fakeGo), 0o755)
	log := filepath.Join(fake, "go.log")
	cmd := exec.Command(filepath.Join(fake, "scripts", "install-tools"), args...)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(fake, "bin")+":"+os.Getenv("PATH"), "FAKE_GO_LOG="+log, "PROGRESS_TTY=0")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("install-tools %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	calls, _ := os.ReadFile(log)
	return string(calls), string(b)
}

// TestInstallToolsRunnerFirst: scripts/dev's install (--dev --runner-first)
// builds the runner alone of the Go programs (and fetches the tools' and
// the functions' modules); the runner's (--dev --go-tools) builds
// local-kms and aws-lambda-rie and nothing else. Together they are
// --dev's Go builds.
func TestInstallToolsRunnerFirst(t *testing.T) {
	installs := func(calls string) []string {
		var got []string
		for _, m := range regexp.MustCompile(`(?m)^install -v .* (\S+)$`).FindAllStringSubmatch(calls, -1) {
			got = append(got, m[1])
		}
		return got
	}
	const kms = "github.com/nsmithuk/local-kms@"
	const rie = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@"

	calls, out := installToolsIn(t, "--dev", "--runner-first")
	got := installs(calls)
	if len(got) != 1 || got[0] != "./scripts/devserver" {
		t.Errorf("--dev --runner-first built %q, want the runner alone (./scripts/devserver):\n%s", got, out)
	}
	for _, want := range []string{"install -n " + kms, "install -n " + rie, "list -deps -tags lambda.norpc ./functions/..."} {
		if !strings.Contains(calls, want) {
			t.Errorf("--dev --runner-first did not run go %s... (the modules fetched while the runner compiles):\n%s", want, calls)
		}
	}

	calls, out = installToolsIn(t, "--dev", "--go-tools")
	got = installs(calls)
	if len(got) != 2 || !strings.HasPrefix(got[0], kms) || !strings.HasPrefix(got[1], rie) {
		t.Errorf("--dev --go-tools built %q, want local-kms then aws-lambda-rie:\n%s", got, out)
	}
	if strings.Contains(out, "DynamoDB Local") || strings.Contains(out, "java") {
		t.Errorf("--go-tools did more than the Go tools:\n%s", out)
	}

	calls, _ = installToolsIn(t, "--dev")
	if got := installs(calls); len(got) != 3 {
		t.Errorf("--dev built %q, want the runner, local-kms and aws-lambda-rie", got)
	}
}

// TestToolsProgress: the runner's display of install-tools --go-tools
// follows its plain progress lines: the packages compiled while it runs,
// its last line (without "[n/m done, Ns] ") when it ends.
func TestToolsProgress(t *testing.T) {
	log, err := os.Create(filepath.Join(t.TempDir(), "install-tools.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	p := (&toolsProgress{}).into(log)
	if p.detail() != "" {
		t.Errorf("detail before any line: %q", p.detail())
	}
	p.Write([]byte("install-tools: [0/1 done, 0s] started side by side: Go tools\ninstall-tools: [0/1 done, 2s] running: Go tools, one at a time (local-kms, aws-lambda-rie) 2s (3 modules downloaded, 1"))
	if p.detail() != "" {
		t.Errorf("detail from half a line: %q", p.detail())
	}
	p.Write([]byte("7 packages compiled)\n"))
	if got := p.detail(); got != "17 packages compiled" {
		t.Errorf("detail = %q, want 17 packages compiled", got)
	}
	p.Write([]byte("install-tools: [1/1 done, 40s] Go tools, one at a time (local-kms, aws-lambda-rie): done in 40s (126 packages compiled): aws-lambda-rie v1 installed\n"))
	if got := p.detail(); got != "126 packages compiled" {
		t.Errorf("detail = %q, want 126 packages compiled", got)
	}
	if got, want := p.result(), "Go tools, one at a time (local-kms, aws-lambda-rie): done in 40s (126 packages compiled): aws-lambda-rie v1 installed"; got != want {
		t.Errorf("result = %q, want %q", got, want)
	}
	b, _ := os.ReadFile(log.Name())
	if !strings.Contains(string(b), "started side by side") || !strings.Contains(string(b), "aws-lambda-rie v1 installed") {
		t.Errorf("the log lacks install-tools' output:\n%s", b)
	}
}

// TestBuildsShareFlags: scripts/install-tools builds the runner and the
// tools with the flags this program builds the functions with
// (buildFlags; -buildvcs=false comes through GOFLAGS there, and the tools
// take no -tags), so that a first run compiles the standard library and
// the shared modules once, not once per set of flags.
func TestBuildsShareFlags(t *testing.T) {
	sorted := func(fields []string) string {
		slices.Sort(fields)
		return strings.Join(fields, " ")
	}
	var want []string
	for _, f := range strings.Fields(strings.Join(buildFlags, " ")) {
		if f != "-buildvcs=false" {
			want = append(want, f)
		}
	}
	if !slices.Contains(want, "-gcflags=all=-dwarf=false") || !slices.Contains(want, "-trimpath") {
		t.Fatalf("buildFlags %q lack -trimpath or -gcflags=all=-dwarf=false", buildFlags)
	}
	var wantTools []string
	for _, f := range want {
		if f != "-tags" && f != "lambda.norpc" {
			wantTools = append(wantTools, f)
		}
	}
	calls := ""
	for _, args := range [][]string{{"--dev", "--runner-first"}, {"--dev", "--go-tools"}} {
		c, _ := installToolsIn(t, args...)
		calls += c
	}
	installs := 0
	for _, line := range strings.Split(calls, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 3 || fields[0] != "install" || fields[1] != "-v" {
			continue
		}
		installs++
		pkg, flags := fields[len(fields)-1], fields[2:len(fields)-1]
		expect := wantTools
		if pkg == "./scripts/devserver" {
			expect = want
		}
		if got := sorted(flags); got != sorted(slices.Clone(expect)) {
			t.Errorf("install-tools builds %s with %s, want %s (scripts/devserver's buildFlags)", pkg, got, sorted(slices.Clone(expect)))
		}
	}
	if installs != 3 {
		t.Errorf("install-tools ran %d go install -v, want 3 (the runner, local-kms, aws-lambda-rie):\n%s", installs, calls)
	}
}
