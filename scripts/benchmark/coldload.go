package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
	"github.com/authkit/lambda-auth/shared/replica"
)

// coldLoadResult is what the cold load measurement found: 100,000 live
// revocations in the window of a local DynamoDB feed table, compacted into
// the snapshot, a replica loading cold, one catching up after idling, and
// the items one sync reads at a steady rate.
type coldLoadResult struct {
	cmd       string
	endpoint  string        // AWS_ENDPOINT_URL_DYNAMODB
	live      int           // revocations written in the window
	writeTook time.Duration // to write them (BatchWriteItem)
	compact   []time.Duration
	snapParts int
	snapBytes int
	tail      int             // feed items written after the last compaction
	load      []time.Duration // cold loads with the snapshot
	loadItems int             // feed items the last one read
	viewHeap  uint64          // heap held by a loaded view, after GC
	loadAlloc uint64          // bytes allocated by one cold load
	entries   int
	noSnap    []time.Duration // cold loads of the whole window (no usable snapshot)
	noSnapMem uint64
	noSnapErr string        // the load without snapshot failed (LoadTimeout)
	idle      time.Duration // the idle time
	catchUp   []time.Duration
	catchOK   int
	catchSnap bool // the catch-up read the snapshot
	rate      int  // revocations per second of the steady run
	perSync   []int
	budget    time.Duration
	alone     string // provenance when the step ran alone (-only)
	loadAvg   string // the machine's load average before the step
}

const (
	coldLive    = 100_000
	coldWindow  = 15*time.Minute + 20*time.Second // the default ACCESS_TOKEN_TTL and twice the leeway
	coldRuns    = 5
	coldTailFor = 50 * time.Second // the feed written after the last compaction (they run every minute)
	idleFor     = 3 * time.Minute
)

// fakeClock is the world's clock for this measurement: the writers'
// stamps, DynamoDB's Date (dynamo.WithServerClock) and the replicas'
// clock, so that 15 minutes of feed are written, and minutes of idling
// pass, without waiting. Only the wall times of the reads are measured.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// randomRevocation is a revocation as the service writes them: mostly
// access tokens (RFC 7009, refresh reuse), some sessions, a few users.
func randomRevocation(i int, at time.Time) auth.Revocation {
	var b [16]byte
	rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	switch i % 20 {
	case 0:
		return auth.NewRevocation(auth.RevokeUser, "usr_"+id, at, "logout-all")
	case 1, 2, 3:
		return auth.NewRevocation(auth.RevokeSession, id+id[:10], at, "logout")
	}
	return auth.NewRevocation(auth.RevokeToken, id, at, "rfc7009")
}

// runColdLoad measures the replica's cold load and idle catch-up against
// the feed of the local DynamoDB (AWS_ENDPOINT_URL_DYNAMODB).
func runColdLoad(ctx context.Context, o *options, r *report) error {
	defs, err := localaws.TableDefinitions(o.root)
	if err != nil {
		return err
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	feedDefs := map[string]localapi.Table{"RevocationFeedTable": defs["RevocationFeedTable"],
		"RevocationSnapshotTable": defs["RevocationSnapshotTable"]}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	db := dynamodb.NewFromConfig(cfg)
	names, err := localaws.EnsureTables(ctx, db, feedDefs, func(id string) string { return fmt.Sprintf("%s-coldload-%x", id, suffix) })
	if err != nil {
		return err
	}
	tables := dynamo.Tables{RevocationFeed: names["RevocationFeedTable"], RevocationSnapshot: names["RevocationSnapshotTable"]}
	res := &r.coldLoad
	res.endpoint = cmp.Or(os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"), "AWS")
	clock := &fakeClock{t: time.Now().Add(-30 * time.Minute).Truncate(time.Second)}
	store := dynamo.New(db, tables, dynamo.WithClock(clock.Now), dynamo.WithServerClock(clock.Now))
	quiet := slog.New(slog.DiscardHandler)
	// LoadTimeout is raised from its 4 s so that a slow load is measured,
	// not cut off; the catch-up keeps the production sync budget.
	newReplica := func(window time.Duration) *replica.Replica {
		return replica.New(store, replica.Options{Window: window, MaxStaleness: 5 * time.Minute, Now: clock.Now, Logger: quiet,
			LoadTimeout: 2 * time.Minute})
	}
	res.loadAvg = loadAverage()

	// 100,000 revocations over the last 14 minutes, stamped per second.
	start := clock.Now()
	const span = 14 * 60
	per := coldLive / span
	t0 := time.Now()
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	n := 0
	for s := range span {
		at := start.Add(time.Duration(s) * time.Second)
		batch := make([]auth.Revocation, 0, per+1)
		for len(batch) < per || (s == span-1 && n+len(batch) < coldLive) {
			batch = append(batch, randomRevocation(n+len(batch), at))
		}
		n += len(batch)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := store.AppendFeed(ctx, at, batch); err != nil {
				mu.Lock()
				firstErr = cmpErr(firstErr, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	res.live, res.writeTook = n, time.Since(t0)
	clock.Advance(span * time.Second)

	// The compaction as the scheduled function runs it, then a tail.
	for range 2 {
		t1 := time.Now()
		c, err := store.CompactSnapshot(ctx, coldWindow)
		if err != nil {
			return err
		}
		res.compact = append(res.compact, time.Since(t1))
		res.snapParts, res.snapBytes, res.entries = c.Parts, c.Bytes, c.Entries
		// The next minute: 111 revocations a second, as above.
		for s := range 60 {
			at := clock.Now().Add(time.Duration(s) * time.Second)
			batch := make([]auth.Revocation, per)
			for i := range batch {
				batch[i] = randomRevocation(i, at)
			}
			if err := store.AppendFeed(ctx, at, batch); err != nil {
				return err
			}
		}
		clock.Advance(time.Minute)
	}
	if _, err := store.CompactSnapshot(ctx, coldWindow); err != nil {
		return err
	}
	for s := range int(coldTailFor / time.Second) {
		at := clock.Now().Add(time.Duration(s) * time.Second)
		batch := make([]auth.Revocation, per)
		for i := range batch {
			batch[i] = randomRevocation(i, at)
		}
		if err := store.AppendFeed(ctx, at, batch); err != nil {
			return err
		}
		res.tail += len(batch)
	}
	clock.Advance(coldTailFor)

	// Cold loads: with the snapshot, then without one (a window the
	// snapshot was not made for), each in a fresh replica.
	measure := func(window time.Duration) (time.Duration, uint64, uint64, *replica.Replica, error) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		rep := newReplica(window)
		t := time.Now()
		err := rep.Load(ctx)
		took := time.Since(t)
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(rep)
		return took, after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc), after.TotalAlloc - before.TotalAlloc, rep, err
	}
	var warm *replica.Replica
	for range coldRuns {
		took, heap, alloc, rep, err := measure(coldWindow)
		if err != nil {
			return fmt.Errorf("cold load: %w", err)
		}
		res.load = append(res.load, took)
		res.viewHeap, res.loadAlloc, res.loadItems, res.entries = heap, alloc, rep.Stats().Items, rep.Len()
		if rep.Stats().Snapshots != 1 {
			return fmt.Errorf("cold load: the snapshot was not read (%+v)", rep.Stats())
		}
		warm = rep
	}
	// Once: on the local emulator a deep paginated Query is slow.
	if took, heap, _, _, err := measure(coldWindow + time.Millisecond); err != nil {
		res.noSnapErr = err.Error()
		res.noSnap = append(res.noSnap, took)
	} else {
		res.noSnap, res.noSnapMem = append(res.noSnap, took), heap
	}

	// An idle container: three minutes without a request while the feed
	// gets 111 revocations a second and the compaction runs every minute;
	// then one request's sync, within the sync budget (800 ms).
	res.idle, res.budget = idleFor, 800*time.Millisecond
	for range coldRuns {
		rep := newReplica(coldWindow)
		if err := rep.Load(ctx); err != nil {
			return err
		}
		for m := range int(idleFor / time.Minute) {
			for s := range 60 {
				at := clock.Now().Add(time.Duration(s) * time.Second)
				batch := make([]auth.Revocation, per)
				for i := range batch {
					batch[i] = randomRevocation(i+m, at)
				}
				if err := store.AppendFeed(ctx, at, batch); err != nil {
					return err
				}
			}
			clock.Advance(time.Minute)
			if _, err := store.CompactSnapshot(ctx, coldWindow); err != nil {
				return err
			}
		}
		clock.Advance(5 * time.Second)
		snaps := rep.Stats().Snapshots
		t := time.Now()
		_, err := rep.Revocations(ctx, "j", "s", "u")
		res.catchUp = append(res.catchUp, time.Since(t))
		if err == nil {
			res.catchOK++
		}
		res.catchSnap = rep.Stats().Snapshots > snaps
	}
	_ = warm

	// Items per sync at a steady rate (the 61 revocations/s): a
	// warm replica syncing once a second.
	res.rate = 61
	rep := newReplica(coldWindow)
	if err := rep.Load(ctx); err != nil {
		return err
	}
	for s := range 30 {
		at := clock.Now()
		batch := make([]auth.Revocation, res.rate)
		for i := range batch {
			batch[i] = randomRevocation(i+s, at.Add(time.Duration(i)*time.Second/time.Duration(res.rate)))
		}
		if err := store.AppendFeed(ctx, at, batch); err != nil {
			return err
		}
		clock.Advance(time.Second + time.Millisecond)
		before := rep.Stats().Items
		if _, err := rep.Revocations(ctx, "j", "s", "u"); err != nil {
			return err
		}
		res.perSync = append(res.perSync, rep.Stats().Items-before)
	}
	res.cmd = "scripts/bench   # the cold load step of go run ./scripts/benchmark; alone: go run ./scripts/benchmark -only 'replica cold load' (with AWS_ENDPOINT_URL_DYNAMODB set)"
	return nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func medianDur(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func (r *report) writeColdLoad(w *mdWriter) {
	c := r.coldLoad
	if c.live == 0 {
		return
	}
	w.p("## Revocation replica: cold load and catch-up at 100,000 revocations")
	w.p("")
	if c.alone != "" {
		w.p("%s", c.alone)
		w.p("")
	}
	w.p("%d live revocations written into the feed table of the local DynamoDB (%s) over 14 minutes of stamps (BatchWriteItem, %s), compacted into the snapshot as the scheduled `revocation-snapshot` function does every minute, then %d more in the %s since the last compaction. A replica then loads cold (the snapshot's pointer and parts, and the feed since its watermark), in a fresh replica each time; one with a window the snapshot was not made for reads the whole window of the feed instead. Time is simulated (the writers' stamps, DynamoDB's Date and the replicas' clock are one clock moved by the program); only the reads' wall times are measured. Heap: `runtime.ReadMemStats` after a GC, before and after the load, the replica kept alive.",
		c.live, "`"+c.endpoint+"`", c.writeTook.Round(time.Second), c.tail, coldTailFor)
	w.p("")
	w.code(c.cmd)
	w.p("Load average (1, 5, 15 min) when the step began: %s. The cold load's `LoadTimeout` is raised to 2 minutes here so that a slow load is measured rather than cut off at 4 s; the catch-up runs with the production sync budget.", c.loadAvg)
	w.p("")
	w.header("", "measured", "goal")
	w.row("cold load, snapshot + tail (median of 5)", fmt.Sprintf("%s (%s to %s); %d entries in the view, %d feed items read", medianDur(c.load).Round(time.Millisecond),
		slices.Min(c.load).Round(time.Millisecond), slices.Max(c.load).Round(time.Millisecond), c.entries, c.loadItems), fmt.Sprintf("≤ 1 s: %s", yesNo(medianDur(c.load) <= time.Second)))
	w.row("heap held by the view", mib(int64(c.viewHeap)), fmt.Sprintf("≤ 32 MiB: %s", yesNo(c.viewHeap <= 32<<20)))
	w.row("allocated during one cold load", mib(int64(c.loadAlloc)), "")
	if c.noSnapErr != "" {
		w.row("cold load without a snapshot, the whole window (once)", fmt.Sprintf("failed after %s: %s", medianDur(c.noSnap).Round(time.Millisecond), c.noSnapErr), "")
	} else {
		w.row("cold load without a snapshot, the whole window (once)", fmt.Sprintf("%s; heap held %s", medianDur(c.noSnap).Round(time.Millisecond), mib(int64(c.noSnapMem))), "")
	}
	w.row("compaction (scheduled function's work, each run)", fmt.Sprintf("%s; %d parts, %s", joinDur(c.compact), c.snapParts, mib(int64(c.snapBytes))), "")
	w.row(fmt.Sprintf("catch-up after %s idle at 111 revocations/s (one request's sync, median of 5)", c.idle), fmt.Sprintf("%s (max %s), %d of %d within the budget, snapshot read: %v",
		medianDur(c.catchUp).Round(time.Millisecond), slices.Max(c.catchUp).Round(time.Millisecond), c.catchOK, len(c.catchUp), c.catchSnap),
		fmt.Sprintf("within the sync budget (%s): %s", c.budget, yesNo(c.catchOK == len(c.catchUp) && slices.Max(c.catchUp) <= c.budget)))
	lo, hi := slices.Min(c.perSync), slices.Max(c.perSync)
	sum := 0
	for _, v := range c.perSync {
		sum += v
	}
	w.row(fmt.Sprintf("feed items one sync reads at %d revocations/s, synced every second", c.rate), fmt.Sprintf("%d to %d (mean %.0f: each item read about %.1f times)", lo, hi,
		float64(sum)/float64(len(c.perSync)), float64(sum)/float64(len(c.perSync))/float64(c.rate)), "before the watermark from stamps: 415-479 (issue 17)")
	w.p("")
}

func joinDur(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, d.Round(time.Millisecond).String())
	}
	return fmt.Sprint(s)
}
