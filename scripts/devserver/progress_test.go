package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestCommandStart(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		env  string
		want time.Time
	}{
		{"", now},
		{"1799999900.250000", time.Unix(1_799_999_900, 250_000_000)},
		{"1799999900,5", time.Unix(1_799_999_900, 500_000_000)}, // a locale's decimal comma
		{"1799999900", time.Unix(1_799_999_900, 0)},             // date +%s
		{"1800000100.0", now},                                   // ahead of now: not believed
		{"yesterday", now},
		{"-5", now},
	} {
		got := commandStart(func(k string) string {
			if k == startedEnv {
				return tc.env
			}
			return ""
		}, now)
		if d := got.Sub(tc.want); d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("commandStart with %s=%q = %v, want %v", startedEnv, tc.env, got, tc.want)
		}
	}
}

// fakeClock is the progress display's clock, moved by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestProgressPlainLines(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	start := clock.t.Add(-20 * time.Second) // scripts/dev started 20 s before the program
	var out bytes.Buffer
	p := newProgress(&out, false, start, clock.now, time.Hour) // the test calls show itself
	n := 3
	build := p.Start("building 15 functions (go install)", func() string { return fmt.Sprintf("%d packages compiled", n) })
	servers := p.Start("starting local KMS and DynamoDB Local", nil)
	clock.t = clock.t.Add(2500 * time.Millisecond)
	p.show()
	n = 40
	clock.t = clock.t.Add(time.Second)
	servers.Done("local KMS at http://127.0.0.1:1")
	build.Done("")
	p.Say("port %d is in use", 3000)
	p.Close()
	p.Close() // a second Close does nothing

	want := []string{
		"dev: building 15 functions (go install): 3 packages compiled, 2.5s (total 22.5s)",
		"dev: starting local KMS and DynamoDB Local: 2.5s (total 22.5s)",
		"dev: starting local KMS and DynamoDB Local: done in 3.5s (total 23.5s): local KMS at http://127.0.0.1:1",
		"dev: building 15 functions (go install): done in 3.5s (total 23.5s)",
		"dev: port 3000 is in use",
	}
	if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("plain progress:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.ContainsAny(out.String(), "\r\033") {
		t.Errorf("plain progress holds terminal control characters: %q", out.String())
	}
}

func TestProgressTerminalLine(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	var out bytes.Buffer
	p := newProgress(&out, true, clock.t, clock.now, time.Hour)
	a := p.Start("building 15 functions (go install)", func() string { return "7 of 15 installed" })
	p.Start("starting local KMS and DynamoDB Local", nil)
	clock.t = clock.t.Add(1500 * time.Millisecond)
	p.show()
	a.Done("")
	p.Close()
	got := out.String()
	// One line rewritten in place: every running step, each with its time.
	if want := "\r\033[Kdev: [total 1.5s] building 15 functions (go install) (7 of 15 installed) 1.5s · starting local KMS and DynamoDB Local 1.5s"; !strings.Contains(got, want) {
		t.Errorf("terminal progress %q lacks the running line %q", got, want)
	}
	// A step's end is a line of its own, after the running line is cleared.
	if !regexp.MustCompile(`\r\033\[Kdev: building 15 functions \(go install\): done in 1\.5s \(total 1\.5s\)\n`).MatchString(got) {
		t.Errorf("terminal progress %q lacks the step's done line", got)
	}
	if !strings.HasSuffix(got, "\r\033[K") {
		t.Errorf("terminal progress %q does not end with a cleared line", got)
	}
}
