package metrics_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/metrics"
)

type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

// TestCountLines: every counting method writes one EMF line with its
// metric, its dimensions and the function, at the clock's time, with the
// level it was given.
func TestCountLines(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	var out testenv.EMFLog
	r := metrics.New(&out, "auth-LoginFunction", metrics.WithClock(c.Now), metrics.WithLevel("warn"))
	r.Login(metrics.Locked)
	r.Refresh(metrics.ReuseDetected)
	r.LoginLockout()
	r.Revocation(metrics.KindSession)
	r.DependencyError(metrics.KMS, metrics.Throttled)
	if errs := out.Errors(); len(errs) > 0 {
		t.Fatalf("lines against the EMF rules: %q", errs)
	}
	want := []string{
		"Login{Outcome=locked}", "Refresh{Outcome=reuse_detected}", "LoginLockout{}",
		"Revocation{Kind=session}", "DependencyError{Service=KMS,Kind=throttled}",
	}
	lines := out.Lines()
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.Raw())
	}
	for i, x := range lines {
		var got string
		for name := range x.Metrics {
			got = name
		}
		if !strings.HasPrefix(want[i], got+"{") || x.Metrics[got][0] != 1 {
			t.Errorf("line %d: %v, want %s counting 1", i, x.Metrics, want[i])
		}
		if x.Dimensions["Function"] != "auth-LoginFunction" {
			t.Errorf("line %d: Function %q", i, x.Dimensions["Function"])
		}
		if !strings.Contains(x.Raw, `"level":"WARN"`) || !strings.Contains(x.Raw, `"Timestamp":1796040000000`) {
			t.Errorf("line %d: want level WARN and the clock's time: %s", i, x.Raw)
		}
	}
	if got := strings.Join(out.Seen(), " "); got != strings.Join(sorted(want), " ") {
		t.Errorf("seen %s, want %s", got, sorted(want))
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestDecisionsAreGathered: the authorizer's decisions are written
// together, one line per reason with the count and every latency, stamped
// with the first decision's time: when a decision comes a flush interval
// after the first pending one (before it is added), when 100 latencies are
// pending, or on Flush. The replica's age comes with each flush.
func TestDecisionsAreGathered(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	var out testenv.EMFLog
	r := metrics.New(&out, "authorizer", metrics.WithClock(c.Now), metrics.WithFlushInterval(10*time.Second),
		metrics.WithReplicaAge(func() time.Duration { return 1500 * time.Millisecond }))
	r.Decision(metrics.Allowed, 2*time.Millisecond)
	c.t = c.t.Add(4 * time.Second)
	r.Decision(metrics.Allowed, 3*time.Millisecond)
	r.Decision(metrics.StoreDown, 800*time.Millisecond)
	if n := len(out.Lines()); n != 0 {
		t.Fatalf("%d lines written within the interval, want 0", n)
	}
	c.t = c.t.Add(6 * time.Second) // 10 s after the first: the pending ones go first
	r.Decision(metrics.Expired, time.Millisecond)
	lines := out.Lines()
	if len(lines) != 3 {
		t.Fatalf("%d lines, want allow, unavailable and the replica's age:\n%s", len(lines), out.Raw())
	}
	if got := out.Count(metrics.AuthorizerDecision, map[string]string{"Reason": "ok", "Decision": "allow"}); got != 2 {
		t.Errorf("allow count %v, want 2", got)
	}
	if got := out.Count(metrics.AuthorizerDecision, map[string]string{"Reason": "unavailable", "Decision": "deny"}); got != 1 {
		t.Errorf("unavailable count %v, want 1", got)
	}
	if got := lines[0].Metrics[metrics.AuthorizerLatency]; len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Errorf("allow latencies %v, want [2 3] ms", got)
	}
	if got := out.Count(metrics.ReplicaAge, nil); got != 1500 {
		t.Errorf("replica age %v ms, want 1500", got)
	}
	for _, x := range lines {
		if !strings.Contains(x.Raw, `"Timestamp":1796040000000`) {
			t.Errorf("not stamped with the first decision's time: %s", x.Raw)
		}
	}

	r.Flush() // the expired one
	if got := out.Count(metrics.AuthorizerDecision, map[string]string{"Reason": "expired"}); got != 1 {
		t.Errorf("expired count %v after Flush, want 1", got)
	}
	before := len(out.Lines())
	for range metrics.MaxValues {
		r.Decision(metrics.Allowed, time.Millisecond)
	}
	lines = out.Lines()[before:]
	if len(lines) != 2 || len(lines[0].Metrics[metrics.AuthorizerLatency]) != metrics.MaxValues {
		t.Errorf("100 decisions: %d lines, want one of 100 latencies and the age:\n%s", len(lines), out.Raw())
	}
	if errs := out.Errors(); len(errs) > 0 {
		t.Errorf("lines against the EMF rules: %q", errs)
	}
}

// TestNilRecorder: a nil *Recorder records nothing and does not panic.
func TestNilRecorder(t *testing.T) {
	var r *metrics.Recorder
	r.Login(metrics.OK)
	r.Refresh(metrics.OK)
	r.LoginLockout()
	r.Revocation(metrics.KindUser)
	r.DependencyError(metrics.DynamoDB, metrics.Failed)
	r.Decision(metrics.Allowed, time.Millisecond)
	r.Flush()
}

// TestNoFunctionName: a dimension value must have a visible character.
func TestNoFunctionName(t *testing.T) {
	var out bytes.Buffer
	metrics.New(&out, " ").Login(metrics.OK)
	if _, err := testenv.ParseEMF(strings.TrimSpace(out.String())); err != nil {
		t.Errorf("%v: %s", err, out.String())
	}
}

// BenchmarkDecision is what counting costs the authorizer per request:
// gathering a decision (a line written every 100).
func BenchmarkDecision(b *testing.B) {
	r := metrics.New(io.Discard, "authorizer", metrics.WithReplicaAge(func() time.Duration { return time.Second }))
	b.ReportAllocs()
	for b.Loop() {
		r.Decision(metrics.Allowed, 150*time.Microsecond)
	}
}
