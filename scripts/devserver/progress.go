package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// startedEnv is the moment scripts/dev started (seconds since the epoch,
// with a fraction: bash's EPOCHREALTIME), which the script passes so that
// the banner's total counts the tools' install and the runner's build too.
const startedEnv = "LAMBDA_AUTH_DEV_STARTED"

// commandStart is when the command that started this program began:
// startedEnv when it holds a time not after now, else now.
func commandStart(getenv func(string) string, now time.Time) time.Time {
	s := getenv(startedEnv)
	if s == "" {
		return now
	}
	f, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64) // EPOCHREALTIME follows the locale's decimal point
	if err != nil || f <= 0 {
		return now
	}
	t := time.Unix(0, int64(f*1e9))
	if t.After(now) {
		return now
	}
	return t
}

// progress shows what scripts/dev is doing on stderr. On a terminal it
// rewrites one line in place, listing every running step; otherwise it
// writes plain lines: one when a step ends and, while a step runs, one
// every interval:
//
//	dev: building 15 functions: 40 packages compiled, 7 of 15 installed, 12.0s (total 31.5s)
//	dev: building 15 functions: done in 14.2s (total 33.7s)
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	start    time.Time // the command's start: totals count from it
	now      func() time.Time
	interval time.Duration
	steps    []*step
	stop     chan struct{}
	stopped  sync.WaitGroup
	closing  sync.Once
}

// step is one thing scripts/dev waits for.
type step struct {
	p      *progress
	what   string
	detail func() string // "40 packages compiled, 7 of 15 installed"; nil: none
	begun  time.Time
}

// newProgress writes to w from start; tty: rewrite one line in place.
func newProgress(w io.Writer, tty bool, start time.Time, now func() time.Time, interval time.Duration) *progress {
	p := &progress{w: w, tty: tty, start: start, now: now, interval: interval, stop: make(chan struct{})}
	tick := interval
	if tty {
		tick = 500 * time.Millisecond
	}
	p.stopped.Add(1)
	go func() {
		defer p.stopped.Done()
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.show()
			}
		}
	}()
	return p
}

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Close stops the display, clearing the line on a terminal. Later calls
// do nothing; Say still prints.
func (p *progress) Close() {
	p.closing.Do(func() {
		close(p.stop)
		p.stopped.Wait()
		p.mu.Lock()
		defer p.mu.Unlock()
		p.clear()
		p.steps = nil
	})
}

// Start begins a step; detail (may be nil) tells how far it is.
func (p *progress) Start(what string, detail func() string) *step {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &step{p: p, what: what, detail: detail, begun: p.now()}
	p.steps = append(p.steps, s)
	return s
}

// Say prints a line of its own (the running line is redrawn after it).
func (p *progress) Say(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.w, "dev: "+format+"\n", a...)
	p.redraw()
}

// Done ends the step with a line saying how long it took; result (may be
// empty) is added to it.
func (s *step) Done(result string) {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, o := range p.steps {
		if o == s {
			p.steps = append(p.steps[:i], p.steps[i+1:]...)
			break
		}
	}
	now := p.now()
	p.clear()
	line := fmt.Sprintf("dev: %s: done in %s (total %s)", s.what, seconds(now.Sub(s.begun)), seconds(now.Sub(p.start)))
	if result != "" {
		line += ": " + result
	}
	fmt.Fprintln(p.w, line)
	p.redraw()
}

// show is the ticker's: a running line per step (plain) or the one line
// redrawn (terminal).
func (p *progress) show() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		p.redraw()
		return
	}
	for _, s := range p.steps {
		fmt.Fprintln(p.w, s.line(p.now(), p.start))
	}
}

// line is a running step's plain line.
func (s *step) line(now, start time.Time) string {
	d := ""
	if s.detail != nil {
		if d = s.detail(); d != "" {
			d += ", "
		}
	}
	return fmt.Sprintf("dev: %s: %s%s (total %s)", s.what, d, seconds(now.Sub(s.begun)), seconds(now.Sub(start)))
}

// redraw writes the terminal's one line: every running step. Callers hold mu.
func (p *progress) redraw() {
	if !p.tty || len(p.steps) == 0 {
		return
	}
	now := p.now()
	parts := make([]string, 0, len(p.steps))
	for _, s := range p.steps {
		part := s.what
		if s.detail != nil {
			if d := s.detail(); d != "" {
				part += " (" + d + ")"
			}
		}
		parts = append(parts, part+" "+seconds(now.Sub(s.begun)))
	}
	line := fmt.Sprintf("dev: [total %s] %s", seconds(now.Sub(p.start)), strings.Join(parts, " · "))
	if len(line) > 150 {
		line = line[:149] + "…"
	}
	fmt.Fprint(p.w, "\r\033[K"+line)
}

// clear empties the terminal's line before a line of its own. Callers hold mu.
func (p *progress) clear() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// seconds is d as "12.3s".
func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s" }
