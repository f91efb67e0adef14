package docs_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authkit/lambda-auth/scripts/docs"
)

// repoRoot is the folder of go.mod above the test's directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

func readDoc(t *testing.T, path string) docs.Doc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return docs.Parse(string(b))
}

// TestMarkdownLinksResolve: every relative link and #anchor in the
// project's Markdown documents names a file or folder that exists and a
// heading of the document it points into.
func TestMarkdownLinksResolve(t *testing.T) {
	root := repoRoot(t)
	files, err := docs.Files(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"README.md", "SECURITY.md", "BENCHMARKS.md", "functions/README.md", "shared/README.md", "scripts/README.md", "infra/OPERATIONS.md"} {
		if !contains(files, want) {
			t.Errorf("documents found: %v; want %s among them", files, want)
		}
	}
	if err := docs.CheckLinks(root, files); err != nil {
		t.Errorf("broken links:\n%v", err)
	}
}

// TestReadmeShortWithContents: README.md is read in ten minutes: at most
// docs.MaxReadmeLines lines, and a contents list naming each section.
func TestReadmeShortWithContents(t *testing.T) {
	d := readDoc(t, filepath.Join(repoRoot(t), "README.md"))
	if n := len(d.Lines); n > docs.MaxReadmeLines {
		t.Errorf("README.md has %d lines, want at most %d: move reference material into the documents it links", n, docs.MaxReadmeLines)
	}
	if err := docs.CheckContents(d, 2); err != nil {
		t.Errorf("README.md's contents list: %v", err)
	}
}

// TestDocumentsHaveContents: every document under functions/, shared/,
// infra/ and scripts/ (the reference README links) has its own contents
// list naming each of its sections.
func TestDocumentsHaveContents(t *testing.T) {
	root := repoRoot(t)
	files, err := docs.Files(root)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		top, _, _ := strings.Cut(f, "/")
		switch top {
		case "functions", "shared", "infra", "scripts":
		default:
			continue
		}
		n++
		if err := docs.CheckContents(readDoc(t, filepath.Join(root, f)), 2); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if n < 5 {
		t.Errorf("found %d documents under functions/, shared/, infra/ and scripts/, want at least 5: the walk reads the wrong folders", n)
	}
}

// TestCIRunsReadmeTestCommand: .ci/run runs the command README.md gives
// under "Run the tests", so what a newcomer runs is what CI runs.
func TestCIRunsReadmeTestCommand(t *testing.T) {
	root := repoRoot(t)
	section, ok := readDoc(t, filepath.Join(root, "README.md")).Section("Run the tests")
	if !ok {
		t.Fatal(`README.md has no "Run the tests" section`)
	}
	cmd := firstCommand(section)
	if cmd == "" {
		t.Fatal(`README.md's "Run the tests" section has no sh code block with a command`)
	}
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	if !runsCommand(string(ci), cmd) {
		t.Errorf(".ci/run does not run README's test command %q", cmd)
	}
}

// firstCommand is the first line of the first sh code block of text that
// is no comment, without a trailing comment.
func firstCommand(text string) string {
	in := false
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case !in && (line == "```sh" || line == "```bash" || line == "```console"):
			in = true
		case in && line == "```":
			return ""
		case in && line != "" && !strings.HasPrefix(line, "#"):
			cmd, _, _ := strings.Cut(line, " #")
			return strings.TrimSpace(cmd)
		}
	}
	return ""
}

// runsCommand: some line of the script, not a comment, starts with cmd as
// a whole word (followed by nothing, a space or a shell operator).
func runsCommand(script, cmd string) bool {
	for _, line := range strings.Split(script, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		rest, ok := strings.CutPrefix(line, cmd)
		if ok && (rest == "" || strings.ContainsRune(" ;|&)", rune(rest[0]))) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestSlug: anchors as GitHub makes them, from headings of this project.
func TestSlug(t *testing.T) {
	for text, want := range map[string]string{
		"Standard endpoints (OAuth 2.0)":                "standard-endpoints-oauth-20",
		"The issuer is the API's URL":                   "the-issuer-is-the-apis-url",
		"Verify anywhere: `shared/guard`":               "verify-anywhere-sharedguard",
		"401 or 403: what a client does":                "401-or-403-what-a-client-does",
		"Local DynamoDB: AWS's DynamoDB Local":          "local-dynamodb-awss-dynamodb-local",
		"Refresh tokens, rotation and the grace window": "refresh-tokens-rotation-and-the-grace-window",
		"Cold start → ready":                            "cold-start--ready",
	} {
		if got := docs.Slug(text); got != want {
			t.Errorf("Slug(%q) = %q, want %q", text, got, want)
		}
	}
}

// TestParse: headings and links outside code fences and code spans only;
// a repeated heading gets GitHub's -1 suffix.
func TestParse(t *testing.T) {
	d := docs.Parse("# T\n\n## A\n\n[x](b.md#c) `[no](d.md)` ![i](e.png)\n\n```sh\n# not a heading\n[no](f.md)\n```\n\n## A\n")
	var anchors, links []string
	for _, h := range d.Headings {
		anchors = append(anchors, h.Anchor)
	}
	for _, l := range d.Links {
		links = append(links, l.Target)
	}
	if got, want := strings.Join(anchors, ","), "t,a,a-1"; got != want {
		t.Errorf("anchors %s, want %s", got, want)
	}
	if got, want := strings.Join(links, ","), "b.md#c,e.png"; got != want {
		t.Errorf("links %s, want %s", got, want)
	}
}

// TestCheckLinksFindsEachKind: the checker reports a missing file, a
// missing heading, a fragment into a file that is not Markdown, and a
// path outside the project, and accepts what resolves.
func TestCheckLinksFindsEachKind(t *testing.T) {
	root := t.TempDir()
	write := func(rel, text string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a/b.go", "package b\n")
	write("a/doc.md", "# Doc\n\n## Part two\n")
	write("README.md", strings.Join([]string{
		"# R", "## Here",
		"[ok](a/doc.md#part-two) [ok](#here) [ok](a/) [ok](https://example.com/x#y)",
		"[missing file](a/nope.md)",
		"[missing heading](a/doc.md#part-three)",
		"[fragment into code](a/b.go#L1)",
		"[outside](../etc/passwd)",
		"[missing here](#there)",
	}, "\n"))
	err := docs.CheckLinks(root, []string{"README.md", "a/doc.md"})
	if err == nil {
		t.Fatal("no error for five broken links")
	}
	msg := err.Error()
	for _, want := range []string{"README.md:4: a/nope.md", "README.md:5: a/doc.md#part-three", "README.md:6: a/b.go#L1", "README.md:7: ../etc/passwd", "README.md:8: #there"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if n := strings.Count(msg, "\n") + 1; n != 5 {
		t.Errorf("%d errors, want 5 (the resolving links must pass):\n%s", n, msg)
	}
}

// TestCheckContents: a contents list must exist and name every section.
func TestCheckContents(t *testing.T) {
	good := docs.Parse("# T\n\n## Contents\n\n- [A](#a)\n- [B: b](#b-b)\n\n## A\n\n### Deeper\n\n## B: b\n")
	if err := docs.CheckContents(good, 2); err != nil {
		t.Errorf("complete list refused: %v", err)
	}
	if err := docs.CheckContents(good, 3); err == nil || !strings.Contains(err.Error(), "Deeper") {
		t.Errorf("a level-3 heading missing from the list at maxLevel 3: got %v", err)
	}
	if err := docs.CheckContents(docs.Parse("# T\n\n## A\n"), 2); err == nil {
		t.Error("a document without contents list accepted")
	}
	if err := docs.CheckContents(docs.Parse("# T\n\n## Contents\n\n- [A](#a)\n\n## A\n\n## B\n"), 2); err == nil || !strings.Contains(err.Error(), `"B"`) {
		t.Errorf("a section missing from the list: got %v", err)
	}
}

// TestCIRunsCommandRule: the rule that finds README's command in .ci/run.
func TestCIRunsCommandRule(t *testing.T) {
	if got := firstCommand("text\n\n```sh\n# a comment\nscripts/test   # everything\nmore\n```\n"); got != "scripts/test" {
		t.Errorf("firstCommand = %q, want scripts/test", got)
	}
	for script, want := range map[string]bool{
		"\tscripts/test || test_status=$?\n": true,
		"scripts/test\n":                     true,
		"# scripts/test\n":                   false,
		"scripts/testing\n":                  false,
		"echo scripts/test\n":                false,
	} {
		if got := runsCommand(script, "scripts/test"); got != want {
			t.Errorf("runsCommand(%q) = %v, want %v", script, got, want)
		}
	}
}
