package dpop

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Replay remembers the proofs a server accepted, so that one is never
// accepted twice (RFC 9449 section 11.1).
type Replay interface {
	// Seen records the proof of key jkt with identifier jti, to be kept
	// until until (after which Verify refuses the proof by its iat anyway),
	// and reports whether it had been recorded before. Checking and
	// recording are one atomic step. An error means that it could not
	// tell: the caller refuses the proof.
	Seen(ctx context.Context, jkt, jti string, until time.Time) (bool, error)
}

// ErrReplayFull is MemoryReplay's error when it holds its maximum of live
// entries: it refuses rather than forget one that could then be replayed.
var ErrReplayFull = errors.New("dpop: replay cache full")

// MemoryReplay is a Replay in one process's memory: a map from a hash of
// (jkt, jti) to the time the entry may be dropped. Its memory is bounded by
// its maximum number of entries, about 100 bytes each (BenchmarkMemoryReplay
// reports bytes/entry), and, through Verify's iat window, by the rate of
// accepted proofs times that window: expired entries are swept when the map
// has doubled since the last sweep, so the cost is constant per call on
// average. Safe for concurrent use.
//
// It sees only the proofs its own process accepted: see the package
// documentation for what that bounds across containers.
type MemoryReplay struct {
	max int
	now func() time.Time

	mu        sync.Mutex
	entries   map[[sha256.Size]byte]int64 // until, Unix nanoseconds
	nextSweep int
}

// NewMemoryReplay returns a MemoryReplay of at most max live entries, which
// reads the time from now (time.Now when nil).
func NewMemoryReplay(max int, now func() time.Time) *MemoryReplay {
	if now == nil {
		now = time.Now
	}
	return &MemoryReplay{max: max, now: now, entries: make(map[[sha256.Size]byte]int64), nextSweep: min(1024, max)}
}

var _ Replay = (*MemoryReplay)(nil)

// Seen implements Replay.
func (m *MemoryReplay) Seen(_ context.Context, jkt, jti string, until time.Time) (bool, error) {
	h := sha256.New()
	h.Write([]byte(jkt))
	h.Write([]byte{0}) // a thumbprint holds no NUL: (jkt, jti) pairs never collide
	h.Write([]byte(jti))
	var key [sha256.Size]byte
	h.Sum(key[:0])

	now := m.now().UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	if u, ok := m.entries[key]; ok && u >= now {
		return true, nil
	}
	if len(m.entries) >= m.nextSweep {
		for k, u := range m.entries {
			if u < now {
				delete(m.entries, k)
			}
		}
		m.nextSweep = min(max(2*len(m.entries), 1024), m.max)
		if len(m.entries) >= m.max {
			return false, fmt.Errorf("record proof %.8s...: %w (%d live entries)", jti, ErrReplayFull, len(m.entries))
		}
	}
	m.entries[key] = until.UnixNano()
	return false, nil
}

// Len is the number of entries held, expired ones not yet swept included.
func (m *MemoryReplay) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}
