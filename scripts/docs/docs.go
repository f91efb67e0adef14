package docs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
)

// Heading is a Markdown ATX heading (outside code fences) of a document.
type Heading struct {
	Level  int    // number of leading '#'
	Text   string // the heading's text
	Anchor string // the fragment GitHub gives it, unique within the document
	Line   int    // 1-based
}

// Link is an inline Markdown link or image of a document, outside code
// fences and code spans.
type Link struct {
	Target string // as written: path, path#fragment or #fragment
	Line   int    // 1-based
}

// Doc is one Markdown document, read for its headings and links.
type Doc struct {
	Lines    []string
	Headings []Heading
	Links    []Link
}

var (
	headingRE  = regexp.MustCompile(`^(#{1,6})[ \t]+(.*?)[ \t#]*$`)
	codeSpanRE = regexp.MustCompile("`+[^`]*`+")
	// [text](target) or ![alt](target), with an optional "title".
	linkRE = regexp.MustCompile(`!?\[[^\]]*\]\(<?([^)\s>]+)>?(?:\s+"[^"]*")?\)`)
	// [text](url) inside heading text: the anchor is made of the text.
	headingLinkRE = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
)

// Parse reads a Markdown document's headings and links. Lines inside
// fenced code blocks (``` or ~~~) hold neither.
func Parse(text string) Doc {
	d := Doc{Lines: strings.Split(strings.TrimSuffix(text, "\n"), "\n")}
	seen := map[string]int{}
	fence := ""
	for i, line := range d.Lines {
		trimmed := strings.TrimLeft(line, " ")
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		if m := headingRE.FindStringSubmatch(line); m != nil {
			text := headingLinkRE.ReplaceAllString(m[2], "$1")
			a := Slug(text)
			if n, ok := seen[a]; ok {
				seen[a] = n + 1
				a = fmt.Sprintf("%s-%d", a, n+1)
			} else {
				seen[a] = 0
			}
			d.Headings = append(d.Headings, Heading{Level: len(m[1]), Text: text, Anchor: a, Line: i + 1})
		}
		for _, m := range linkRE.FindAllStringSubmatch(codeSpanRE.ReplaceAllString(line, ""), -1) {
			d.Links = append(d.Links, Link{Target: m[1], Line: i + 1})
		}
	}
	return d
}

// Slug is the anchor GitHub gives a heading's text: lower case, every
// character but letters, digits, '-', '_' and spaces dropped (backticks,
// colons, apostrophes, dots...), spaces turned into '-'.
func Slug(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(text)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Anchors is the set of fragments a link may name in the document.
func (d Doc) Anchors() map[string]bool {
	a := make(map[string]bool, len(d.Headings))
	for _, h := range d.Headings {
		a[h.Anchor] = true
	}
	return a
}

// Section is the text under the first heading whose text is title, up to
// the next heading of the same or a higher level, and whether there is one.
func (d Doc) Section(title string) (string, bool) {
	for i, h := range d.Headings {
		if h.Text != title {
			continue
		}
		end := len(d.Lines)
		for _, next := range d.Headings[i+1:] {
			if next.Level <= h.Level {
				end = next.Line - 1
				break
			}
		}
		return strings.Join(d.Lines[h.Line:end], "\n"), true
	}
	return "", false
}

// skipDirs are never walked for documents: tooling state, installed
// packages, VCS data.
var skipDirs = map[string]bool{".git": true, ".local": true, "node_modules": true}

// Files lists the project's Markdown documents (slash paths relative to
// root), outside skipDirs.
func Files(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && skipDirs[e.Name()] {
			return filepath.SkipDir
		}
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".md") {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list Markdown documents under %s: %w", root, err)
	}
	return files, nil
}

// CheckLinks resolves every relative link of every document in files
// (slash paths relative to root): the file or folder must exist, and a
// #fragment must name a heading of the Markdown document it points into.
// Links with a scheme (https:, mailto:) are not followed. Each problem is
// one error naming the document, line and target.
func CheckLinks(root string, files []string) error {
	docs := map[string]Doc{}
	load := func(rel string) (Doc, error) {
		if d, ok := docs[rel]; ok {
			return d, nil
		}
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			return Doc{}, err
		}
		d := Parse(string(b))
		docs[rel] = d
		return d, nil
	}
	scheme := regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
	var errs []error
	for _, f := range files {
		d, err := load(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", f, err))
			continue
		}
		for _, l := range d.Links {
			if scheme.MatchString(l.Target) {
				continue
			}
			path, frag, _ := strings.Cut(l.Target, "#")
			target := f
			if path != "" {
				target = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(f), filepath.FromSlash(path))))
				if target == ".." || strings.HasPrefix(target, "../") {
					errs = append(errs, fmt.Errorf("%s:%d: %s points outside the project", f, l.Line, l.Target))
					continue
				}
				if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(target))); err != nil {
					errs = append(errs, fmt.Errorf("%s:%d: %s: no such file or folder (%s)", f, l.Line, l.Target, target))
					continue
				}
			}
			if frag == "" {
				continue
			}
			if !strings.HasSuffix(target, ".md") {
				errs = append(errs, fmt.Errorf("%s:%d: %s: a #fragment into a file that is no Markdown document", f, l.Line, l.Target))
				continue
			}
			td, err := load(target)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s: %w", f, l.Line, l.Target, err))
				continue
			}
			if !td.Anchors()[frag] {
				errs = append(errs, fmt.Errorf("%s:%d: %s: %s has no heading #%s", f, l.Line, l.Target, target, frag))
			}
		}
	}
	return errors.Join(errs...)
}

// CheckContents checks that d has a contents list (a "Contents" heading
// over a list of links to #anchors) naming every heading of d from level 2
// to maxLevel but the list's own.
func CheckContents(d Doc, maxLevel int) error {
	body, ok := d.Section("Contents")
	if !ok {
		return errors.New(`no "Contents" heading`)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		t := strings.TrimSpace(line)
		if !strings.HasPrefix(t, "- ") && !strings.HasPrefix(t, "* ") {
			continue
		}
		for _, m := range linkRE.FindAllStringSubmatch(t, -1) {
			if a, ok := strings.CutPrefix(m[1], "#"); ok {
				listed[a] = true
			}
		}
	}
	if len(listed) == 0 {
		return errors.New("the contents list links to no heading of the document")
	}
	var errs []error
	for _, h := range d.Headings {
		if h.Level < 2 || h.Level > maxLevel || h.Text == "Contents" {
			continue
		}
		if !listed[h.Anchor] {
			errs = append(errs, fmt.Errorf("line %d: heading %q (#%s) is not in the contents list", h.Line, h.Text, h.Anchor))
		}
	}
	return errors.Join(errs...)
}
