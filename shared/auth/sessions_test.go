package auth

import (
	"strings"
	"testing"
	"time"
)

// TestLiveSessionRules: which sessions the session list shows, decided
// with no store: the rules of refresh (marked ended, past the absolute
// end, idle too long, covered by a session, user or global entry) and only the
// caller's own.
func TestLiveSessionRules(t *testing.T) {
	now := time.UnixMilli(1_764_299_045_000)
	start := now.Add(-time.Hour)
	sess := Session{ID: newSessionID(start), UserID: "u1", CreatedAt: start, LastUsedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)}
	tests := []struct {
		name   string
		change func(*Session) []Revocation
		live   bool
	}{
		{"live", func(*Session) []Revocation { return nil }, true},
		{"marked ended", func(s *Session) []Revocation { s.RevokedAt = now.Add(-time.Minute); return nil }, false},
		{"at its absolute end", func(s *Session) []Revocation { s.ExpiresAt = now; return nil }, false},
		{"idle for the idle timeout (1h here)", func(s *Session) []Revocation { s.LastUsedAt = now.Add(-time.Hour - time.Millisecond); return nil }, false},
		{"used within the idle timeout", func(s *Session) []Revocation { s.LastUsedAt = now.Add(-time.Hour); return nil }, true},
		{"another user's (an index answering wrong)", func(s *Session) []Revocation { s.UserID = "u2"; return nil }, false},
		{"session entry", func(s *Session) []Revocation {
			return []Revocation{NewRevocation(RevokeSession, s.ID, now.Add(-time.Minute), "logout")}
		}, false},
		{"expired session entry", func(s *Session) []Revocation {
			r := NewRevocation(RevokeSession, s.ID, now.Add(-time.Minute), "logout")
			r.ExpiresAt = now.Add(-time.Second)
			return []Revocation{r}
		}, true},
		{"another session's entry", func(s *Session) []Revocation {
			return []Revocation{NewRevocation(RevokeSession, newSessionID(start), now, "logout")}
		}, true},
		{"user entry after its start (logout-all)", func(s *Session) []Revocation {
			return []Revocation{NewRevocation(RevokeUser, "u1", start.Add(time.Millisecond), "logout-all")}
		}, false},
		{"user entry at its start", func(s *Session) []Revocation {
			return []Revocation{NewRevocation(RevokeUser, "u1", start, "logout-all")}
		}, false},
		{"user entry before its start", func(s *Session) []Revocation {
			return []Revocation{NewRevocation(RevokeUser, "u1", start.Add(-time.Millisecond), "logout-all")}
		}, true},
		{"user entry without cutoff (typed by hand)", func(s *Session) []Revocation {
			return []Revocation{{Kind: RevokeUser, Value: "u1"}}
		}, false},
		{"another user's entry", func(s *Session) []Revocation {
			return []Revocation{NewRevocation(RevokeUser, "u2", now, "logout-all")}
		}, true},
		{"global cutoff after its start (revoke-all)", func(s *Session) []Revocation {
			return []Revocation{NewRevocation(RevokeAll, AllValue, start.Add(time.Millisecond), "key compromised")}
		}, false},
		{"global cutoff before its start (a login after revoke-all)", func(s *Session) []Revocation {
			return []Revocation{NewRevocation(RevokeAll, AllValue, start.Add(-time.Millisecond), "key compromised")}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sess
			revs := tt.change(&s)
			got := liveSessions(UserSessions{Sessions: []Session{s}, Revocations: revs}, "u1", now, time.Hour)
			if live := len(got) == 1; live != tt.live {
				t.Errorf("listed %v, want %v", live, tt.live)
			}
		})
	}
}

func TestCleanUserAgent(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Mozilla/5.0 (X11; Linux x86_64)", "Mozilla/5.0 (X11; Linux x86_64)"},
		{"  a\tb\r\nc\x00d\x7f ", "abcd"},
		{"bad \xff utf-8", "bad  utf-8"},
		{"Chrome on \u202eswodniW\u202c \u200b(this device)\ufeff", "Chrome on swodniW (this device)"}, // bidi, zero-width
		{strings.Repeat("a", 300), strings.Repeat("a", MaxUserAgentLen)},
		{strings.Repeat("a", 255) + "é", strings.Repeat("a", 255)}, // not cut inside a character
		{"", ""},
	}
	for _, tt := range tests {
		if got := cleanUserAgent(tt.in); got != tt.want {
			t.Errorf("cleanUserAgent(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
