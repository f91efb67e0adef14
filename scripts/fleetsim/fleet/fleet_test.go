package fleet

import (
	"bytes"
	"container/heap"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
	"github.com/authkit/lambda-auth/shared/replica"
)

// The charging rules, on their own (the documented examples and edges).
func TestChargingRules(t *testing.T) {
	for _, c := range []struct {
		bytes    int
		eventual bool
		want     float64
		pages    int
	}{
		{0, false, 1, 1}, {0, true, 0.5, 1}, {1, false, 1, 1}, {4096, false, 1, 1}, {4097, false, 2, 1},
		{3500, true, 0.5, 1}, {10 * 1024, false, 3, 1}, {PageBytes, false, 256, 1}, {PageBytes + 1, false, 257, 2},
		{2*PageBytes + 5000, true, 257, 3},
	} {
		got, pages := QueryUnits(c.bytes, c.eventual)
		if got != c.want || len(pages) != c.pages {
			t.Errorf("QueryUnits(%d, eventual %v) = %g in %d pages, want %g in %d", c.bytes, c.eventual, got, len(pages), c.want, c.pages)
		}
	}
	for size, want := range map[int]float64{1: 1, 1024: 1, 1025: 2, 2500: 3} {
		if got := WriteUnits(size); got != want {
			t.Errorf("WriteUnits(%d) = %g, want %g", size, got, want)
		}
	}
	// Sizes DynamoDB Local 1.25.1 reported (PutItem's ConsumedCapacity at
	// the 1 KB edge), and a few more of the same rule.
	for s, want := range map[string]int{"1": 2, "12": 2, "120": 3, "1200": 2, "12000": 3, "123": 3, "1230": 3,
		"1796664793516": 8, "1796664793510": 8, "1796664793500": 7, "179666479351": 7, "1796664793": 6,
		"1796664700": 5, "1796664790": 6, "1796664000": 5, "0.5": 2, "0.05": 2, "1.5": 3, "10.25": 3, "100": 2,
		"1796000100": 5, "1796000123": 6, "0": 1, "12345": 4, "1.50": 3, "-7": 2} {
		if got := numberSize(s); got != want {
			t.Errorf("numberSize(%q) = %d, want %d", s, got, want)
		}
	}
}

// Same seed, same numbers: a run is a function of its configuration.
func TestDeterministic(t *testing.T) {
	cfg := Config{Readers: 300, Rate: 150, Flood: Flood{Rate: 60, PerMinute: 20}, Duration: 20 * time.Second, Seed: 7}
	a, b := Run(cfg), Run(cfg)
	a.Elapsed, b.Elapsed = 0, 0
	if a != b {
		t.Errorf("two runs of one configuration differ:\n%+v\n%+v", a, b)
	}
	if a.ThrottledReads == 0 {
		t.Errorf("300 readers at 150/s on one partition should throttle (the model's ceiling), got %+v", a)
	}
	cfg.Seed = 8
	if c := Run(cfg); c.Items == a.Items && c.ReadCalls == a.ReadCalls {
		t.Errorf("another seed gave the same run: %+v", c)
	}
	s := Cells(Sized, 1)
	if !bytes.Equal(cellNames(s), cellNames(Cells(Sized, 1))) {
		t.Error("Cells differ between two calls")
	}
}

func cellNames(cs []Config) []byte {
	var b bytes.Buffer
	for _, c := range cs {
		b.WriteString(rateLabel(c))
	}
	return b.Bytes()
}

// The published properties at small scale, through the real sync code: a
// regression in shared/replica's sync (a late sync, a missed item, a
// failure not retried) shows here. 200 busy authorizers at 20
// revocations/s, with one user's flood held by the budget: no throttled
// call, every probe (the flood's escalation entry among them) enforced by
// every replica within the sync interval and the 1 ms the model gives a
// request to arrive, and no replica ever without a view.
func TestSmallFleet(t *testing.T) {
	r := Run(Config{Readers: 200, Rate: 20, Flood: Flood{Rate: 60, PerMinute: 20}, Duration: 30 * time.Second, Seed: 3,
		Layout: Recommend(200, 21, time.Second, 0)})
	if r.ThrottledReads != 0 || r.ThrottledWrites != 0 || r.SyncFailures != 0 {
		t.Errorf("throttled: %d reads, %d writes, %d failed syncs; want none", r.ThrottledReads, r.ThrottledWrites, r.SyncFailures)
	}
	if r.Probes < 10 || r.Unenforced != 0 {
		t.Errorf("%d of %d probes never reached every replica", r.Unenforced, r.Probes)
	}
	if bound := time.Second + time.Millisecond; r.EnforceMax > bound || r.EnforceMax < 900*time.Millisecond {
		t.Errorf("enforcement max %s, want at most %s (and near it: busy replicas sync every second)", r.EnforceMax, bound)
	}
	if r.DeniedShare != 0 {
		t.Errorf("replicas without a view %.2f %% of the time", 100*r.DeniedShare)
	}
	if r.RRUPerSecond < 200 || r.CostPerDay() <= 0 {
		t.Errorf("at least one read unit per reader per second expected, got %.0f RRU/s ($%.2f/day)", r.RRUPerSecond, r.CostPerDay())
	}
}

// The chosen layout at the top cell's rate, on a tenth of its fleet (the
// whole cell is BENCHMARKS.md's): 1,000 readers at 1,000 revocations/s,
// which throttles on one partition, runs clean on Recommend's layout.
func TestSizedLayoutHolds(t *testing.T) {
	l := Recommend(1000, 1000, time.Second, 0)
	if l.Copies*l.Shards < 2 {
		t.Fatalf("Recommend(1000, 1000) = %+v: one partition cannot carry it", l)
	}
	if err := (dynamo.FeedLayout{Copies: l.Copies, Shards: l.Shards}).Validate(); err != nil {
		t.Fatal(err)
	}
	r := Run(Config{Readers: 1000, Rate: 1000, Layout: l, Duration: 15 * time.Second, Seed: 5})
	if r.ThrottledReads != 0 || r.ThrottledWrites != 0 || r.Unenforced != 0 || r.EnforceMax > 2*time.Second {
		t.Errorf("layout %+v: %d throttled reads, %d throttled writes, %d probes not enforced, max %s",
			l, r.ThrottledReads, r.ThrottledWrites, r.Unenforced, r.EnforceMax)
	}
	if r.MaxPartitionRU > PartitionReadCap || r.MaxPartitionWU > PartitionWriteCap {
		t.Errorf("busiest partition asked %.0f read and %.0f write units in a second", r.MaxPartitionRU, r.MaxPartitionWU)
	}
	one := Run(Config{Readers: 1000, Rate: 1000, Duration: 15 * time.Second, Seed: 5})
	if one.ThrottledReads == 0 {
		t.Errorf("one partition per bucket at 1,000 readers × 1,000/s should throttle: %+v", one)
	}
}

// Splice replaces the marked section and nothing else.
func TestSplice(t *testing.T) {
	doc := []byte("# B\n\nbefore\n\n" + BeginMarker + "\nold\n" + EndMarker + "\nafter\n")
	got := string(Splice(doc, []byte(BeginMarker+"\nnew\n"+EndMarker+"\n")))
	if want := "# B\n\nbefore\n\n" + BeginMarker + "\nnew\n" + EndMarker + "\nafter\n"; got != want {
		t.Errorf("Splice:\n%s\nwant\n%s", got, want)
	}
	if got := string(Splice([]byte("# B\n"), []byte("S\n"))); got != "# B\n\nS\n" {
		t.Errorf("Splice without markers: %q", got)
	}
	if got := string(Splice([]byte("# B\n\nx\n\n## Reproduce\n\nr\n"), []byte("S\n"))); got != "# B\n\nx\n\nS\n\n## Reproduce\n\nr\n" {
		t.Errorf("Splice before Reproduce: %q", got)
	}
}

// Recommend sizes for the span the real replica reads: what a warm sync
// of shared/replica actually asks the feed for, on a busy feed, is
// ReadSpan of its settings (SyncInterval + Overlap + the Date's rounding), with the
// authorizer's default Overlap and with another. A replica that read more
// (a longer overlap, a watermark that lags) breaks this before it breaks a
// deployment sized by the table.
func TestReadSpanFollowsReplica(t *testing.T) {
	for _, overlap := range []time.Duration{0, 5 * time.Second} {
		want := ReadSpan(time.Second, overlap)
		if overlap == 0 && want != time.Second+replica.DefaultOverlap+500*time.Millisecond {
			t.Errorf("ReadSpan(1 s, default) = %s, want 1 s + replica.DefaultOverlap + 0.5 s (the Date's rounding)", want)
		}
		r := Run(Config{Readers: 100, Rate: 100, Overlap: overlap, Duration: 20 * time.Second, Seed: 2,
			Layout: Recommend(100, 100, time.Second, overlap)})
		if d := r.ReadSpan - want; d < -100*time.Millisecond || d > 100*time.Millisecond {
			t.Errorf("overlap %s: a warm sync read %s of stamps on average, Recommend assumes %s", overlap, r.ReadSpan, want)
		}
	}
}

// A read returns, and learns the newest stamp from, only what the keys it
// queries hold and it can see: an item whose write to the reader's copy
// is still being retried is neither in its batch nor its Newest (a Newest
// taken from another copy would move its watermark past the item before
// it lands), and is once the retry lands.
func TestReadSeesOnlyItsCopy(t *testing.T) {
	s := &sim{cfg: Config{Sync: time.Second, Duration: time.Minute}, layout: dynamo.FeedLayout{Copies: 2, Shards: 1},
		rng: rand.New(rand.NewPCG(1, 2)), shards: make([]shardItems, 1), meters: map[int64]*meter{}}
	s.readers = []*reader{{copy: 0}, {copy: 1}}
	s.now = int64(5 * time.Second)
	at := epoch.Add(time.Duration(s.now))
	keys := s.layout.WriteKeys(at, "any") // one shard: [copy 0 ×2, copy 1 ×2]
	for _, k := range keys[2:] {
		s.meters[k] = &meter{sec: 5, w: PartitionWriteCap} // copy 1's partitions are full this second
	}
	s.write(auth.RevokeToken, true)
	from, to := at.Add(-3*time.Second), at.Add(4*time.Second)
	read := func(i int) replica.Batch {
		t.Helper()
		b, err := s.query(i, from, to)
		if err != nil {
			t.Fatalf("reader %d: %v", i, err)
		}
		return b
	}
	if b := read(0); len(b.Entries) != 1 || !b.Newest.Equal(at) || !b.StoreTime.Equal(at.Truncate(time.Second)) {
		t.Errorf("copy 0 (written): %d entries, newest %s, store time %s; want 1, %s, %s", len(b.Entries), b.Newest, b.StoreTime, at, at.Truncate(time.Second))
	}
	if b := read(1); len(b.Entries) != 0 || !b.Newest.IsZero() {
		t.Errorf("copy 1 (write throttled, retry pending): %d entries, newest %s; want none", len(b.Entries), b.Newest)
	}
	if s.events.Len() != 1 {
		t.Fatalf("%d events pending, want the retry", s.events.Len())
	}
	ev := heap.Pop(&s.events).(event)
	s.now = ev.at + int64(time.Second) // the next second: room again
	s.attempt(ev.w)
	if b := read(1); len(b.Entries) != 1 || !b.Newest.Equal(at) {
		t.Errorf("copy 1 after the retry: %d entries, newest %s; want 1, %s", len(b.Entries), b.Newest, at)
	}
}
