// Package fleet simulates a fleet of authorizers reading the revocation
// feed, deterministically, on a simulated clock: N replicas running the
// real sync code (shared/replica, through its Feed interface and an
// injected Now) against a model of the feed table that charges read and
// write units per partition as DynamoDB documents them (model.go) and
// refuses what goes past a partition's ceiling, as DynamoDB throttles. The
// keys each write and each sync touch come from shared/dynamo's own
// FeedLayout, so the model reads the partitions the real Store would.
//
// What is simplified, and why it does not change what is measured:
//   - The model charges every item a Query reads, at the size of the real
//     item, but hands the replica only the probe entries (a sample of the
//     revocations, whose enforcement is timed): the replica's timing, its
//     from/to and its handling of failures do not depend on how many
//     entries it merges, and merging millions would make the simulation
//     slow, not more exact.
//   - Busy containers: a replica gets a request whenever its view turns
//     older than the sync interval, so it syncs every interval (1 ms after
//     it is due); the requests between syncs are map lookups and are not
//     simulated one by one.
//   - Calls take no simulated time; a throttled Query fails the sync (the
//     SDK's retry would mostly not fit in the 800 ms sync budget); a
//     throttled PutItem is retried as the SDK's standard retryer does (3
//     attempts, jittered exponential backoff: up to 1 s, then 2 s).
//   - Throttling is counted in fixed one-second windows per partition key
//     (each key its own partition: the best case DynamoDB's splitting for
//     heat reaches).
//   - A write whose retries land it later than dynamo.FeedLateness after
//     its stamp is not written again with a fresh stamp, as putFeed does:
//     only where writes throttle (the original layout at the top rates),
//     where the run has failed already.
//   - Writers', readers' and DynamoDB's clocks agree (the replica's
//     correction for a reader's skew is tested in shared/replica). The
//     store's clock reaches the replica as the Date of its answers does:
//     rounded down to the second. Cold loads read an empty feed and no
//     snapshot (the run starts with the revocations); the cold load of a
//     long history is another measurement (BENCHMARKS.md, replica).
package fleet

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
	"github.com/authkit/lambda-auth/shared/replica"
)

// Config is one simulated run.
type Config struct {
	Readers  int
	Rate     float64       // revocations per second over the user population (Poisson)
	Duration time.Duration // of writes; default 60 s
	Tail     time.Duration // simulated after the writes end, so late probes can land; default 10 s
	Flood    Flood
	Layout   dynamo.FeedLayout
	// Eventual reads the feed with eventually consistent Queries (half
	// the units); an item becomes visible to them up to EventualLag after
	// its write (uniformly: AWS documents no bound).
	Eventual    bool
	EventualLag time.Duration
	Sync        time.Duration // REVOCATION_SYNC; default 1 s
	// Overlap is the replica's Options.Overlap; zero leaves the
	// replica's default (replica.DefaultOverlap), as the authorizer does.
	Overlap time.Duration
	Probes  int // revocations whose enforcement is timed; default 60 (one a second)
	Seed    uint64
}

// Flood is one signed-in user revoking in a loop (refresh + RFC 7009
// revoke): Rate attempts per second. With a per-user budget (PerMinute >
// 0) the first PerMinute of a minute are written as token entries, the
// next one as one user entry covering the rest, and nothing more that
// minute; without one, every attempt is an item.
type Flood struct {
	Rate      float64
	PerMinute int
}

// Result is what a run measured.
type Result struct {
	Config
	ReadCalls, ThrottledReads   int // Query requests (pages), and those refused
	WriteCalls, ThrottledWrites int // PutItem requests (attempts), and those refused
	LostWrites                  int // items missing from a copy after every retry
	Items                       int // revocations written (feed items before fan-out)
	SyncFailures                int
	Probes, Unenforced          int
	EnforceP50, EnforceP99      time.Duration
	EnforceMax                  time.Duration
	MaxPartitionRU              float64 // read units asked of the busiest partition in its busiest second
	MaxPartitionWU              float64
	RRUPerSecond, WRUPerSecond  float64 // served, averaged over the writes after the first second
	DeniedShare                 float64 // share of replica-time without a view fresh enough to decide
	// ReadSpan is the mean span of stamps a warm sync reads (now less
	// the from the replica asks for), over the syncs while revocations
	// are written, after the first second: what Recommend assumes
	// (ReadSpan).
	ReadSpan time.Duration
	Elapsed  time.Duration
}

// CostPerDay is the on-demand cost per day of the feed's reads and writes
// at the run's rates (USDPerRRU, USDPerWRU).
func (r Result) CostPerDay() float64 {
	return (r.RRUPerSecond*USDPerRRU + r.WRUPerSecond*USDPerWRU) * 86400
}

// start of every run: 30 s before a bucket boundary, so syncs cross one.
var epoch = time.Unix(1_796_000_000-1_796_000_000%int64(dynamo.FeedBucket/time.Second)+int64(dynamo.FeedBucket/time.Second)-30, 0).UTC()

const ms = int64(time.Millisecond)

type sim struct {
	cfg     Config
	layout  dynamo.FeedLayout
	rng     *rand.Rand
	now     int64 // ns since epoch
	events  eventQueue
	readers []*reader
	shards  []shardItems
	meters  map[int64]*meter
	probes  []*probe
	res     Result

	maxRU, maxWU float64
	servedR      float64
	servedW      float64
	written      int
	flood        int // flood attempts so far

	spanSum   int64 // warm syncs' read spans, for ReadSpan
	spanCount int64
}

type shardItems struct {
	stamps []int64 // sorted
	cum    []int64 // cum[i]: bytes of items [0, i)
	vis    []*visibility
	probes []*probe
}

// visibility is when an item can be read under each of its partition
// keys; nil for the common case, an item every key of which took its
// first write (at its stamp) and that strongly consistent reads see at
// once.
type visibility struct {
	// landed: when each key took the item; nil: every key at the stamp.
	// A key absent from a non-nil map does not hold it (yet, or ever: a
	// write lost after every retry).
	landed map[int64]int64
	lag    int64 // eventually consistent reads see it this much later
}

// visible reports whether an item stamped stamp can be read under key at now.
func (v *visibility) visible(key, stamp, now int64) bool {
	if v == nil {
		return stamp <= now
	}
	at := stamp
	if v.landed != nil {
		t, ok := v.landed[key]
		if !ok {
			return false
		}
		at = t
	}
	return at+v.lag <= now
}

type probe struct {
	e      auth.Revocation
	stamp  int64
	landed int64 // -1 until its first write succeeds
	vis    *visibility
	seen   int
	last   int64
}

type meter struct {
	sec        int64
	r, w       float64 // served this second
	askR, askW float64 // asked this second, throttled included
}

type reader struct {
	r           *replica.Replica
	copy        int
	calledAt    int64
	calledOK    bool
	nextProbe   int
	unconfirmed []*probe
	deniedSince int64
	denied      int64
}

type event struct {
	at   int64
	kind int // evRead, evWrite, evFlood, evRetry
	idx  int
	w    *pendingWrite
}

const (
	evRead = iota
	evWrite
	evFlood
	evRetry
)

type pendingWrite struct {
	p       *probe // nil: not a probe
	stamp   int64
	size    int
	shard   int
	keys    []int64 // the keys it has not landed on yet
	vis     *visibility
	attempt int
	landed  bool
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	if q[i].kind != q[j].kind {
		return q[i].kind > q[j].kind // writes before reads at the same instant
	}
	return q[i].idx < q[j].idx
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// Run simulates cfg.
func Run(cfg Config) Result {
	t0 := time.Now()
	if cfg.Duration == 0 {
		cfg.Duration = time.Minute
	}
	if cfg.Tail == 0 {
		cfg.Tail = 10 * time.Second
	}
	if cfg.Sync == 0 {
		cfg.Sync = time.Second
	}
	if cfg.Probes == 0 {
		cfg.Probes = 60
	}
	layout := dynamo.FeedLayout{Copies: max(cfg.Layout.Copies, 1), Shards: max(cfg.Layout.Shards, 1)}
	s := &sim{cfg: cfg, layout: layout, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5eed)),
		shards: make([]shardItems, layout.Shards), meters: map[int64]*meter{}}
	s.res.Config = cfg
	logger := slog.New(slog.DiscardHandler)
	clock := func() time.Time { return epoch.Add(time.Duration(s.now)) }
	ctx := context.Background()
	for i := range cfg.Readers {
		rd := &reader{copy: s.rng.IntN(layout.Copies), calledAt: -1, deniedSince: -1}
		// The authorizer's options (shared/app.Authorizer): the defaults
		// of REVOCATION_SYNC and REVOCATION_MAX_STALENESS, a 15-minute
		// access token and 5 s of leeway, the default Overlap.
		rd.r = replica.New(readerFeed{s, i}, replica.Options{SyncInterval: cfg.Sync, Overlap: cfg.Overlap,
			MaxStaleness: 5 * time.Minute, Window: 15*time.Minute + 10*time.Second, Now: clock, Logger: logger})
		s.readers = append(s.readers, rd)
		heap.Push(&s.events, event{at: s.rng.Int64N(int64(cfg.Sync)), kind: evRead, idx: -1 - i})
	}
	if cfg.Rate > 0 {
		heap.Push(&s.events, event{at: s.expNext(cfg.Rate), kind: evWrite})
	}
	if cfg.Flood.Rate > 0 {
		heap.Push(&s.events, event{at: 0, kind: evFlood})
	}
	expected := int(cfg.Rate*cfg.Duration.Seconds()) + int(cfg.Flood.Rate*cfg.Duration.Seconds())
	probeEvery := max(1, expected/cfg.Probes)
	end := int64(cfg.Duration + cfg.Tail)
	for s.events.Len() > 0 {
		ev := heap.Pop(&s.events).(event)
		if ev.at > end {
			break
		}
		s.now = ev.at
		switch ev.kind {
		case evWrite:
			if s.now < int64(cfg.Duration) {
				kind := auth.RevokeToken
				switch x := s.rng.Float64(); {
				case x < 0.05:
					kind = auth.RevokeUser
				case x < 0.40:
					kind = auth.RevokeSession
				}
				s.write(kind, s.written%probeEvery == 0)
				heap.Push(&s.events, event{at: s.now + s.expNext(cfg.Rate), kind: evWrite})
			}
		case evFlood:
			if s.now < int64(cfg.Duration) {
				s.floodAttempt(probeEvery)
				heap.Push(&s.events, event{at: int64(float64(s.flood) / cfg.Flood.Rate * 1e9), kind: evFlood})
			}
		case evRetry:
			s.attempt(ev.w)
		case evRead:
			if ev.idx < 0 { // the container starts: its cold load
				i := -1 - ev.idx
				rd := s.readers[i]
				if err := rd.r.Load(ctx); err != nil {
					rd.deniedSince = s.now
				}
				s.confirm(rd)
				heap.Push(&s.events, event{at: s.now + int64(cfg.Sync) + ms, kind: evRead, idx: i})
				continue
			}
			s.request(ctx, ev.idx)
		}
	}
	s.finish(end)
	s.res.Elapsed = time.Since(t0)
	return s.res
}

func (s *sim) expNext(rate float64) int64 {
	return int64(s.rng.ExpFloat64() / rate * 1e9)
}

// request is the request that finds reader i's view due for a sync.
func (s *sim) request(ctx context.Context, i int) {
	rd := s.readers[i]
	_, err := rd.r.Revocations(ctx, "", "", "")
	switch {
	case err != nil && rd.deniedSince < 0:
		rd.deniedSince = s.now
	case err == nil && rd.deniedSince >= 0:
		rd.denied += s.now - rd.deniedSince
		rd.deniedSince = -1
	}
	next := s.now + int64(s.cfg.Sync) + ms
	switch {
	case rd.calledAt == s.now && rd.calledOK:
		s.confirm(rd)
	case rd.calledAt == s.now:
		s.res.SyncFailures++
		next = s.now + int64(s.cfg.Sync)
	default: // the view was fresh: due when it turns older than the interval
		if age := rd.r.Age(); age >= 0 {
			next = s.now + int64(s.cfg.Sync-age) + ms
		}
	}
	heap.Push(&s.events, event{at: next, kind: evRead, idx: i})
}

// confirm checks, with the replica's own lookup, which probes written so
// far its view now covers.
func (s *sim) confirm(rd *reader) {
	if rd.calledAt != s.now || !rd.calledOK {
		return
	}
	for ; rd.nextProbe < len(s.probes) && s.probes[rd.nextProbe].landed <= s.now; rd.nextProbe++ {
		rd.unconfirmed = append(rd.unconfirmed, s.probes[rd.nextProbe])
	}
	kept := rd.unconfirmed[:0]
	for _, p := range rd.unconfirmed {
		var jti, sid, sub string
		switch p.e.Kind {
		case auth.RevokeToken:
			jti = p.e.Value
		case auth.RevokeSession:
			sid = p.e.Value
		default:
			sub = p.e.Value
		}
		got, err := rd.r.Revocations(context.Background(), jti, sid, sub)
		if err == nil && slices.ContainsFunc(got, func(e auth.Revocation) bool { return e.Kind == p.e.Kind && e.Value == p.e.Value }) {
			p.seen++
			p.last = s.now
			continue
		}
		kept = append(kept, p)
	}
	rd.unconfirmed = kept
}

// write is one revocation's feed item, written as putFeed writes it: to
// every key of the layout.
func (s *sim) write(kind auth.RevocationKind, isProbe bool) {
	s.written++
	at := epoch.Add(time.Duration(s.now))
	value := strconv.Itoa(s.written)
	sh := shapes[kind]
	value = sh.value[:len(sh.value)-len(value)] + value
	e := auth.NewRevocation(kind, value, at, sh.reason)
	sk := fmt.Sprintf("%013d#%s#%s#%016x", at.UnixMilli(), kind, value, s.rng.Uint64())
	keys := s.layout.WriteKeys(at, sk)
	w := &pendingWrite{stamp: s.now, shard: s.layout.FeedShard(sk), keys: keys,
		size: shapeSize(kind, at, keys[0])}
	if s.cfg.Eventual && s.cfg.EventualLag > 0 {
		w.vis = &visibility{lag: s.rng.Int64N(int64(s.cfg.EventualLag))}
	}
	if isProbe {
		w.p = &probe{e: e, stamp: s.now, landed: -1}
	}
	s.res.Items++
	s.attempt(w)
}

// floodAttempt is one attempt of the flooding user.
func (s *sim) floodAttempt(probeEvery int) {
	f := s.cfg.Flood
	n := s.flood
	s.flood++
	if f.PerMinute <= 0 {
		s.write(auth.RevokeToken, n%probeEvery == 0)
		return
	}
	perMinute := int(math.Round(f.Rate * 60))
	switch k := n % perMinute; {
	case k < f.PerMinute:
		s.write(auth.RevokeToken, n%probeEvery == 0)
	case k == f.PerMinute:
		s.write(auth.RevokeUser, true) // the escalation: always timed
	}
}

// attempt writes w to the keys it has not landed on yet. A key takes the
// item when its write is served; readers of that key see it from then on
// (strongly consistent), and readers of a key whose write is still being
// retried, or was lost, do not.
func (s *sim) attempt(w *pendingWrite) {
	units := WriteUnits(w.size)
	var left, done []int64
	for _, k := range w.keys {
		s.res.WriteCalls++
		if !s.charge(k, 0, units) {
			s.res.ThrottledWrites++
			left = append(left, k)
			continue
		}
		done = append(done, k)
	}
	if len(left) > 0 || (w.vis != nil && w.vis.landed != nil) {
		if w.vis == nil {
			w.vis = &visibility{}
		}
		if w.vis.landed == nil {
			w.vis.landed = map[int64]int64{}
		}
		for _, k := range done {
			w.vis.landed[k] = s.now
		}
	}
	if !w.landed && len(done) > 0 {
		w.landed = true
		s.land(w)
	}
	if len(left) == 0 {
		return
	}
	w.attempt++
	if w.attempt >= 3 { // the SDK's standard retryer gives up: those keys never hold it
		s.res.LostWrites += len(left)
		return
	}
	w.keys = left
	backoff := s.rng.Int64N(int64(time.Second) << (w.attempt - 1))
	heap.Push(&s.events, event{at: s.now + backoff, kind: evRetry, w: w})
}

// land makes w's item readable (from its first successful write on).
func (s *sim) land(w *pendingWrite) {
	sh := &s.shards[w.shard]
	i := sort.Search(len(sh.stamps), func(i int) bool { return sh.stamps[i] > w.stamp })
	sh.stamps = slices.Insert(sh.stamps, i, w.stamp)
	if len(sh.cum) == 0 {
		sh.cum = append(sh.cum, 0)
	}
	sh.cum = slices.Insert(sh.cum, i+1, sh.cum[i]+int64(w.size))
	for j := i + 2; j < len(sh.cum); j++ {
		sh.cum[j] += int64(w.size)
	}
	sh.vis = slices.Insert(sh.vis, i, w.vis)
	if w.p != nil {
		w.p.landed = s.now
		w.p.vis = w.vis
		s.probes = append(s.probes, w.p)
		j := sort.Search(len(sh.probes), func(j int) bool { return sh.probes[j].stamp > w.stamp })
		sh.probes = slices.Insert(sh.probes, j, w.p) // by stamp
	}
}

// charge counts units against key in the current second: read units when
// read > 0, write units when write > 0. It reports false (and serves
// nothing) when they would take the partition past its ceiling.
func (s *sim) charge(key int64, read, write float64) bool {
	sec := s.now / int64(time.Second)
	m := s.meters[key]
	if m == nil {
		m = &meter{sec: sec}
		s.meters[key] = m
	}
	if m.sec != sec {
		s.close(m)
		*m = meter{sec: sec}
	}
	m.askR += read
	m.askW += write
	if m.r+read > PartitionReadCap || m.w+write > PartitionWriteCap {
		return false
	}
	m.r += read
	m.w += write
	if s.now >= int64(time.Second) && s.now < int64(s.cfg.Duration) {
		s.servedR += read
		s.servedW += write
	}
	return true
}

func (s *sim) close(m *meter) {
	s.maxRU = math.Max(s.maxRU, m.askR)
	s.maxWU = math.Max(s.maxWU, m.askW)
}

// query is one reader's RevocationsSince: a Query per key of its copy
// (in parallel, as the Store sends them), each paginated; any refusal
// fails the whole call, as an error from one Query fails the Store's.
// Every item landed in the shard within the key's span is charged (an item
// whose write to this key is still being retried is charged too: a slight
// overcharge, only where writes throttle); what the reader gets, and the
// newest stamp it learns, are only what that key holds and the read can
// see now, as the Store's Newest is the last sort key of what DynamoDB
// returned.
func (s *sim) query(i int, from, to time.Time) (replica.Batch, error) {
	rd := s.readers[i]
	rd.calledAt = s.now
	rd.calledOK = false
	f := from.Sub(epoch).Nanoseconds()
	if span := s.now - f; s.now >= int64(time.Second) && s.now < int64(s.cfg.Duration) && span < int64(time.Minute) {
		s.spanSum += span
		s.spanCount++
	}
	var out []auth.Revocation
	var newest int64 = -1
	throttled := false
	for _, key := range s.layout.ReadKeys(from, to, rd.copy) {
		start, end := dynamo.FeedKeySpan(key)
		lo := max(f, start.Sub(epoch).Nanoseconds())
		hi := end.Sub(epoch).Nanoseconds()
		shard := s.shardOfKey(key)
		sh := &s.shards[shard]
		bytes := 0
		if len(sh.stamps) > 0 {
			a := sort.Search(len(sh.stamps), func(i int) bool { return sh.stamps[i] >= lo })
			b := sort.Search(len(sh.stamps), func(i int) bool { return sh.stamps[i] >= hi })
			if b > a {
				bytes = int(sh.cum[b] - sh.cum[a])
			}
			for j := b - 1; j >= a; j-- { // the newest this key holds and the read sees
				if sh.vis[j].visible(key, sh.stamps[j], s.now) {
					newest = max(newest, sh.stamps[j])
					break
				}
			}
		}
		_, pages := QueryUnits(bytes, s.cfg.Eventual)
		ok := true
		for _, u := range pages {
			s.res.ReadCalls++
			if !s.charge(key, u, 0) {
				s.res.ThrottledReads++
				ok = false
				break
			}
		}
		if !ok {
			throttled = true
			continue
		}
		first := sort.Search(len(sh.probes), func(i int) bool { return sh.probes[i].stamp >= lo })
		for _, p := range sh.probes[first:] {
			if p.stamp >= lo && p.stamp < hi && p.vis.visible(key, p.stamp, s.now) {
				out = append(out, p.e)
			}
		}
	}
	if throttled {
		return replica.Batch{}, errThrottled
	}
	rd.calledOK = true
	// The Date header: the store's clock when it answered (calls take no
	// simulated time: the moment of the read), rounded down to the second
	// as its one-second resolution does (RFC 9110 6.6.1).
	b := replica.Batch{Entries: out, StoreTime: epoch.Add(time.Duration(s.now)).Truncate(time.Second)}
	if newest >= 0 {
		b.Newest = epoch.Add(time.Duration(newest))
	}
	return b, nil
}

var errThrottled = errors.New("revocation feed: ProvisionedThroughputExceededException (the partition's read ceiling, simulated)")

func (s *sim) shardOfKey(key int64) int {
	slot := 0
	if key >= 1<<40 {
		slot = int(key % 10000)
	}
	return slot % s.layout.Shards
}

func (s *sim) finish(end int64) {
	for _, m := range s.meters {
		s.close(m)
	}
	s.res.MaxPartitionRU, s.res.MaxPartitionWU = s.maxRU, s.maxWU
	span := (s.cfg.Duration - time.Second).Seconds()
	s.res.RRUPerSecond, s.res.WRUPerSecond = s.servedR/span, s.servedW/span
	var denied int64
	for _, rd := range s.readers {
		if rd.deniedSince >= 0 {
			rd.denied += end - rd.deniedSince
		}
		denied += rd.denied
	}
	if s.spanCount > 0 {
		s.res.ReadSpan = time.Duration(s.spanSum / s.spanCount)
	}
	if len(s.readers) > 0 {
		s.res.DeniedShare = float64(denied) / float64(int64(len(s.readers))*end)
	}
	var lat []time.Duration
	for _, p := range s.probes {
		if p.seen >= len(s.readers) {
			lat = append(lat, time.Duration(p.last-p.landed))
		} else {
			s.res.Unenforced++
		}
	}
	s.res.Probes = len(s.probes)
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		s.res.EnforceP50 = lat[n/2]
		s.res.EnforceP99 = lat[min(n-1, int(math.Ceil(float64(n)*0.99))-1)]
		s.res.EnforceMax = lat[n-1]
	}
}

// readerFeed is reader i's view of the feed: replica.Feed.
type readerFeed struct {
	s *sim
	i int
}

func (f readerFeed) RevocationsSince(_ context.Context, from, to time.Time) (replica.Batch, error) {
	return f.s.query(f.i, from, to)
}

// Snapshot: the simulated fleet starts with an empty feed, so a cold load
// reads the feed itself (a snapshot holds nothing at start, and the
// simulation charges no compaction).
func (f readerFeed) Snapshot(context.Context) (replica.Snapshot, error) {
	return replica.Snapshot{}, nil
}
