package auth

import (
	"testing"
	"time"
)

// t0 is an arbitrary instant; rows are written relative to it.
var t0 = time.UnixMilli(1_796_000_000_000)

func at(d time.Duration) time.Time { return t0.Add(d) }

// TestCovers: the one rule deciding whether an entry ends a token or a
// session, without any server.
func TestCovers(t *testing.T) {
	tok := Target{TokenID: "j1", SessionID: "s1", UserID: "u1", SessionStart: at(0)}
	sess := Target{SessionID: "s1", UserID: "u1", SessionStart: at(0)}
	cases := []struct {
		description string
		entry       Revocation
		target      Target
		now         time.Time
		want        bool
	}{
		{"token entry ends its token", Revocation{Kind: RevokeToken, Value: "j1", ExpiresAt: at(time.Hour)}, tok, at(time.Minute), true},
		{"token entry ends no other token", Revocation{Kind: RevokeToken, Value: "j2", ExpiresAt: at(time.Hour)}, tok, at(time.Minute), false},
		{"token entry never ends a session", Revocation{Kind: RevokeToken, Value: "", ExpiresAt: at(time.Hour)}, sess, at(time.Minute), false},
		{"session entry ends the session", Revocation{Kind: RevokeSession, Value: "s1", ExpiresAt: at(time.Hour)}, sess, at(time.Minute), true},
		{"session entry ends the session's tokens", Revocation{Kind: RevokeSession, Value: "s1", ExpiresAt: at(time.Hour)}, tok, at(time.Minute), true},
		{"session entry ends no other session", Revocation{Kind: RevokeSession, Value: "s2", ExpiresAt: at(time.Hour)}, tok, at(time.Minute), false},
		{"expired entry ends nothing", Revocation{Kind: RevokeSession, Value: "s1", ExpiresAt: at(time.Minute)}, tok, at(time.Minute), false},
		{"entry without expiry stays in force", Revocation{Kind: RevokeSession, Value: "s1"}, tok, at(1000 * time.Hour), true},
		{"user entry ends a session started before its cutoff", Revocation{Kind: RevokeUser, Value: "u1", RevokedAt: at(time.Second), ExpiresAt: at(time.Hour)}, sess, at(time.Minute), true},
		{"user entry ends a session started at its cutoff", Revocation{Kind: RevokeUser, Value: "u1", RevokedAt: at(0), ExpiresAt: at(time.Hour)}, tok, at(time.Minute), true},
		{"user entry spares a session started after its cutoff", Revocation{Kind: RevokeUser, Value: "u1", RevokedAt: at(-time.Millisecond), ExpiresAt: at(time.Hour)}, tok, at(time.Minute), false},
		{"user entry spares another user", Revocation{Kind: RevokeUser, Value: "u2", RevokedAt: at(time.Second), ExpiresAt: at(time.Hour)}, tok, at(time.Minute), false},
		{"user entry without cutoff ends every session", Revocation{Kind: RevokeUser, Value: "u1", ExpiresAt: at(time.Hour)}, Target{UserID: "u1", SessionStart: at(time.Minute)}, at(2 * time.Minute), true},
		{"user entry ends every session until AllUntil", Revocation{Kind: RevokeUser, Value: "u1", RevokedAt: at(-time.Hour), AllUntil: at(time.Hour), ExpiresAt: at(48 * time.Hour)}, tok, at(time.Minute), true},
		{"user entry's AllUntil passed: the cutoff decides", Revocation{Kind: RevokeUser, Value: "u1", RevokedAt: at(-time.Hour), AllUntil: at(time.Minute), ExpiresAt: at(48 * time.Hour)}, tok, at(time.Minute), false},
		{"global entry ends a session started before its cutoff", Revocation{Kind: RevokeAll, Value: AllValue, RevokedAt: at(time.Second), ExpiresAt: at(time.Hour)}, sess, at(time.Minute), true},
		{"global entry ends a token of a session started at its cutoff", Revocation{Kind: RevokeAll, Value: AllValue, RevokedAt: at(0), ExpiresAt: at(time.Hour)}, tok, at(time.Minute), true},
		{"global entry ends every user's sessions", Revocation{Kind: RevokeAll, Value: AllValue, RevokedAt: at(time.Second), ExpiresAt: at(time.Hour)}, Target{TokenID: "j9", SessionID: "s9", UserID: "u9", SessionStart: at(0)}, at(time.Minute), true},
		{"global entry spares a session started after its cutoff (a login after it)", Revocation{Kind: RevokeAll, Value: AllValue, RevokedAt: at(-time.Millisecond), ExpiresAt: at(time.Hour)}, tok, at(time.Minute), false},
		{"expired global entry ends nothing", Revocation{Kind: RevokeAll, Value: AllValue, RevokedAt: at(time.Second), ExpiresAt: at(time.Minute)}, tok, at(time.Minute), false},
		{"global entry without cutoff ends every session", Revocation{Kind: RevokeAll, Value: AllValue, ExpiresAt: at(time.Hour)}, Target{UserID: "u1", SessionStart: at(time.Minute)}, at(2 * time.Minute), true},
		{"global entry ends every session until AllUntil", Revocation{Kind: RevokeAll, Value: AllValue, RevokedAt: at(-time.Hour), AllUntil: at(time.Hour), ExpiresAt: at(48 * time.Hour)}, tok, at(time.Minute), true},
		{"global entry under another value ends nothing", Revocation{Kind: RevokeAll, Value: "u1", RevokedAt: at(time.Second), ExpiresAt: at(time.Hour)}, tok, at(time.Minute), false},
		{"global entry without value ends nothing", Revocation{Kind: RevokeAll, RevokedAt: at(time.Second), ExpiresAt: at(time.Hour)}, tok, at(time.Minute), false},
		{"entry of an unknown kind ends nothing", Revocation{Kind: "xyz", Value: "u1", ExpiresAt: at(time.Hour)}, tok, at(time.Minute), false},
	}
	for _, tc := range cases {
		if got := tc.entry.Covers(tc.target, tc.now); got != tc.want {
			t.Errorf("%s: Covers = %v, want %v", tc.description, got, tc.want)
		}
	}
}

// TestMergeNeverDrops: whatever stands in the table, a merged entry covers
// every (session start, moment) that either entry covered. Checked on a
// grid of session starts and moments, for pairs of entries of every shape:
// with and without cutoff, expiry and AllUntil; for a user entry and for
// the global one.
func TestMergeNeverDrops(t *testing.T) {
	shapes := []Revocation{
		{RevokedAt: at(0), ExpiresAt: at(48 * time.Hour)},
		{RevokedAt: at(10 * time.Minute), ExpiresAt: at(24 * time.Hour)},
		{RevokedAt: at(-time.Hour), ExpiresAt: at(72 * time.Hour)},
		{ExpiresAt: at(25 * time.Second)}, // typed by hand: every session, briefly
		{ExpiresAt: at(100 * time.Hour)},  // every session, long
		{},                                // every session, forever
		{RevokedAt: at(time.Minute)},      // never expires
		{RevokedAt: at(-time.Minute), AllUntil: at(time.Hour), ExpiresAt: at(30 * time.Hour)},
	}
	var moments []time.Time
	for d := -2 * time.Hour; d <= 120*time.Hour; d += 7 * time.Minute {
		moments = append(moments, at(d))
	}
	for _, key := range []Revocation{{Kind: RevokeUser, Value: "u1"}, {Kind: RevokeAll, Value: AllValue}} {
		for i, a := range shapes {
			for j, b := range shapes {
				a.Kind, a.Value, b.Kind, b.Value = key.Kind, key.Value, key.Kind, key.Value
				m := Merge(a, b)
				for _, start := range moments {
					for _, now := range moments {
						tg := Target{UserID: "u1", SessionStart: start}
						if (a.Covers(tg, now) || b.Covers(tg, now)) && !m.Covers(tg, now) {
							t.Fatalf("%s: Merge(#%d, #%d) = %+v drops session started %v at %v", key.Kind, i, j, m,
								start.Sub(t0), now.Sub(t0))
						}
					}
				}
			}
		}
	}
}

// TestMerge: the merged entry itself, row by row.
func TestMerge(t *testing.T) {
	user := func(cut, allUntil, exp time.Time, reason string) Revocation {
		return Revocation{Kind: RevokeUser, Value: "u1", RevokedAt: cut, AllUntil: allUntil, ExpiresAt: exp, Reason: reason}
	}
	all := func(cut, allUntil, exp time.Time, reason string) Revocation {
		return Revocation{Kind: RevokeAll, Value: AllValue, RevokedAt: cut, AllUntil: allUntil, ExpiresAt: exp, Reason: reason}
	}
	sid := func(written, exp time.Time, reason string) Revocation {
		return Revocation{Kind: RevokeSession, Value: "s1", RevokedAt: written, ExpiresAt: exp, Reason: reason}
	}
	never := time.Time{}
	cases := []struct {
		description string
		old, new    Revocation
		want        Revocation
	}{
		{"a later user revocation moves the cutoff and expiry",
			user(at(0), never, at(time.Hour), "a"), user(at(time.Minute), never, at(2*time.Hour), "b"),
			user(at(time.Minute), never, at(2*time.Hour), "b")},
		{"an older user revocation changes nothing",
			user(at(time.Minute), never, at(2*time.Hour), "b"), user(at(0), never, at(time.Hour), "a"),
			user(at(time.Minute), never, at(2*time.Hour), "b")},
		{"an older cutoff with a later expiry keeps the cutoff, takes the expiry",
			user(at(time.Minute), never, at(time.Hour), "b"), user(at(0), never, at(3*time.Hour), "a"),
			user(at(time.Minute), never, at(3*time.Hour), "b")},
		{"a hand entry without cutoff becomes AllUntil its expiry",
			user(never, never, at(25*time.Second), "hand"), user(at(time.Second), never, at(time.Hour), "password replaced"),
			user(at(time.Second), at(25*time.Second), at(time.Hour), "password replaced")},
		{"a hand entry without cutoff nor expiry stays as it is",
			user(never, never, never, "hand"), user(at(time.Second), never, at(time.Hour), "logout-all"),
			user(never, never, never, "hand")},
		{"two entries without cutoff: the later expiry",
			user(never, never, at(time.Minute), "x"), user(never, never, at(time.Hour), "y"),
			user(never, never, at(time.Hour), "x")},
		{"a later global cutoff moves the cutoff and expiry",
			all(at(0), never, at(time.Hour), "a"), all(at(time.Minute), never, at(2*time.Hour), "b"),
			all(at(time.Minute), never, at(2*time.Hour), "b")},
		{"an older global cutoff changes nothing",
			all(at(time.Minute), never, at(2*time.Hour), "b"), all(at(0), never, at(time.Hour), "a"),
			all(at(time.Minute), never, at(2*time.Hour), "b")},
		{"a global entry typed by hand without cutoff becomes AllUntil its expiry",
			all(never, never, at(25*time.Second), "hand"), all(at(time.Second), never, at(time.Hour), "key compromised"),
			all(at(time.Second), at(25*time.Second), at(time.Hour), "key compromised")},
		{"a repeated logout keeps the first reason and the later expiry",
			sid(at(0), at(time.Hour), "logout"), sid(at(time.Minute), at(2*time.Hour), "refresh token reuse"),
			sid(at(time.Minute), at(2*time.Hour), "logout")},
		{"a session entry without expiry keeps none",
			sid(at(0), never, "hand"), sid(at(time.Minute), at(2*time.Hour), "logout"),
			sid(at(time.Minute), never, "hand")},
	}
	for _, tc := range cases {
		got := Merge(tc.old, tc.new)
		if !got.RevokedAt.Equal(tc.want.RevokedAt) || !got.AllUntil.Equal(tc.want.AllUntil) ||
			!got.ExpiresAt.Equal(tc.want.ExpiresAt) || got.Reason != tc.want.Reason || got.Kind != tc.want.Kind || got.Value != tc.want.Value {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.description, got, tc.want)
		}
	}
}

// TestNewRevocationLifetime: each kind lives until nothing it covers can
// be valid under the longest lifetimes the configuration accepts.
func TestNewRevocationLifetime(t *testing.T) {
	for kind, want := range map[RevocationKind]time.Duration{
		RevokeToken:   MaxAccessTokenTTL + MaxClockLeeway,
		RevokeSession: MaxRefreshTokenTTL + MaxAccessTokenTTL + MaxClockLeeway,
		RevokeUser:    MaxRefreshTokenTTL + MaxAccessTokenTTL + MaxClockLeeway,
		RevokeAll:     MaxRefreshTokenTTL + MaxAccessTokenTTL + MaxClockLeeway, // past every session it ends
	} {
		r := NewRevocation(kind, "v", t0, "why")
		if got := r.ExpiresAt.Sub(t0); got != want || !r.RevokedAt.Equal(t0) || r.Reason != "why" || r.Kind != kind {
			t.Errorf("NewRevocation(%s) = %+v, lifetime %v, want %v", kind, r, got, want)
		}
	}
}
