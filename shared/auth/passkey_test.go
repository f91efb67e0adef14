package auth

import (
	"slices"
	"testing"
)

// TestSignCountRegressed: WebAuthn L3 §7.2 step 22 as a table: with both
// counters 0 there is no counter; otherwise the presented one must be
// greater than the stored one.
func TestSignCountRegressed(t *testing.T) {
	for _, tc := range []struct {
		stored, presented uint32
		want              bool
	}{
		{0, 0, false}, // an authenticator without a counter (most synced passkeys)
		{0, 1, false},
		{5, 6, false},
		{5, 5, true}, // the same counter twice: two copies in use
		{5, 4, true},
		{5, 0, true}, // a counter that went back to 0
	} {
		if got := SignCountRegressed(tc.stored, tc.presented); got != tc.want {
			t.Errorf("stored %d, presented %d: regressed %v, want %v", tc.stored, tc.presented, got, tc.want)
		}
	}
}

// TestPasskeyRefusal: a credential is refused before its assertion is
// checked when it is unknown, flagged, or answered with another user's
// handle (WebAuthn L3 §7.2 step 6).
func TestPasskeyRefusal(t *testing.T) {
	p := &Passkey{UserHandle: []byte("h1")}
	for name, tc := range map[string]struct {
		p      *Passkey
		handle string
		want   bool
	}{
		"known, own handle":   {p, "h1", false},
		"unknown":             {nil, "h1", true},
		"another user handle": {p, "h2", true},
		"no handle":           {p, "", true},
		"flagged":             {&Passkey{UserHandle: []byte("h1"), CloneWarning: true}, "h1", true},
	} {
		if got := PasskeyRefusal(tc.p, []byte(tc.handle)) != ""; got != tc.want {
			t.Errorf("%s: refused %v, want %v", name, got, tc.want)
		}
	}
}

// TestPasskeyAMR: RFC 8176 values of a passkey sign-in.
func TestPasskeyAMR(t *testing.T) {
	if got := PasskeyAMR(false); !slices.Equal(got, []string{"hwk", "user", "mfa"}) {
		t.Errorf("device-bound: %v", got)
	}
	if got := PasskeyAMR(true); !slices.Equal(got, []string{"swk", "user", "mfa"}) {
		t.Errorf("synced: %v", got)
	}
}
