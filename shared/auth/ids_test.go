package auth

import (
	"strings"
	"testing"
	"time"
)

func TestSessionIDCarriesStart(t *testing.T) {
	now := time.UnixMilli(1_764_299_045_123)
	sid := newSessionID(now)
	got, ok := sessionStartOf(sid)
	if !ok || !got.Equal(now) || len(sid) != sessionIDLen {
		t.Fatalf("sessionStartOf(%q) = %v %v, want %v", sid, got, ok, now)
	}
	if newSessionID(now) == sid {
		t.Error("two session ids at the same instant are equal")
	}
	for _, bad := range []string{"", "x", strings.Repeat("A", sessionIDLen), sid + "A", sid[:31] + "*"} {
		if _, ok := sessionStartOf(bad); ok {
			t.Errorf("sessionStartOf(%q) accepted", bad)
		}
	}
}

func TestParseRefreshToken(t *testing.T) {
	sid := newSessionID(time.Now())
	tok := newRefreshToken(sid)
	if got, ok := parseRefreshToken(tok); !ok || got != sid {
		t.Fatalf("parse(%q) = %q %v", tok, got, ok)
	}
	for _, bad := range []string{"", tok + "A", tok[:len(tok)-1], strings.Replace(tok, ".", "-", 1),
		strings.Repeat("A", sessionIDLen) + tok[sessionIDLen:], tok[:sessionIDLen+1] + strings.Repeat("*", refreshSecretLen)} {
		if _, ok := parseRefreshToken(bad); ok {
			t.Errorf("parse(%q) accepted", bad)
		}
	}
}
