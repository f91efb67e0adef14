package replica

import (
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
)

// kinds are the revocation kinds a view holds, each in a map of its own
// (a new kind is a line here).
var kinds = []auth.RevocationKind{auth.RevokeToken, auth.RevokeSession, auth.RevokeUser, auth.RevokeAll}

// view is the replica's entries, kept small: 100,000 of them must fit in
// a few MiB of a 128 MB function. An entry is its key (the map's, one
// string per entry) and three instants as Unix milliseconds (0: none);
// the kind is the map it is in, and the reason an index into a short list
// of the distinct reasons seen (there are a handful: logout, leak...).
type view struct {
	byKind  map[auth.RevocationKind]map[string]entry
	reasons []string
	reason  map[string]uint16
}

type entry struct {
	revokedAt, allUntil, expiresAt int64 // Unix ms; 0: zero time
	reason                         uint16
}

// maxReasons bounds the distinct reasons a view remembers; past it an
// entry's reason is dropped (only the log line of a denial shows it).
const maxReasons = 512

func newView() view {
	v := view{byKind: map[auth.RevocationKind]map[string]entry{}, reasons: []string{""}, reason: map[string]uint16{"": 0}}
	for _, k := range kinds {
		v.byKind[k] = map[string]entry{}
	}
	return v
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func instant(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func (v *view) revocation(k auth.RevocationKind, value string, e entry) auth.Revocation {
	return auth.Revocation{Kind: k, Value: value, RevokedAt: instant(e.revokedAt), AllUntil: instant(e.allUntil),
		ExpiresAt: instant(e.expiresAt), Reason: v.reasons[e.reason]}
}

// add merges e into the view (auth.Merge: the one rule), and reports
// whether that changed the view.
func (v *view) add(r auth.Revocation) bool {
	m, ok := v.byKind[r.Kind]
	if !ok {
		return false
	}
	old, had := m[r.Value]
	if had {
		r = auth.Merge(v.revocation(r.Kind, r.Value, old), r)
	}
	idx, ok := v.reason[r.Reason]
	if !ok && len(v.reasons) < maxReasons {
		idx = uint16(len(v.reasons))
		v.reasons = append(v.reasons, r.Reason)
		v.reason[r.Reason] = idx
	}
	e := entry{revokedAt: ms(r.RevokedAt), allUntil: ms(r.AllUntil), expiresAt: ms(r.ExpiresAt), reason: idx}
	m[r.Value] = e
	return !had || e != old
}

// lookup returns the entries for a token's jti, sid and sub, and the
// global one (auth.RevokeAll).
func (v *view) lookup(jti, sid, sub string) []auth.Revocation {
	var out []auth.Revocation
	for _, q := range [...]struct {
		k auth.RevocationKind
		v string
	}{{auth.RevokeToken, jti}, {auth.RevokeSession, sid}, {auth.RevokeUser, sub}, {auth.RevokeAll, auth.AllValue}} {
		if e, ok := v.byKind[q.k][q.v]; ok {
			out = append(out, v.revocation(q.k, q.v, e))
		}
	}
	return out
}

// prune drops the entries that no longer matter at now (Matters).
func (v *view) prune(now time.Time, window time.Duration) {
	for k, m := range v.byKind {
		for value, e := range m {
			if !Matters(v.revocation(k, value, e), now, window) {
				delete(m, value)
			}
		}
	}
}

func (v *view) all() []auth.Revocation {
	out := make([]auth.Revocation, 0, v.len())
	for _, k := range kinds {
		for value, e := range v.byKind[k] {
			out = append(out, v.revocation(k, value, e))
		}
	}
	return out
}

func (v *view) len() int {
	n := 0
	for _, m := range v.byKind {
		n += len(m)
	}
	return n
}
