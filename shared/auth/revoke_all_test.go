package auth

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

// TestLoginUnderCutoffs: which entries refuse a login (a session starting
// now), without any server. After a global cutoff in the past a login
// works: its session starts after the cutoff.
func TestLoginUnderCutoffs(t *testing.T) {
	cases := []struct {
		description string
		entry       Revocation
		wantErr     error
	}{
		{"no entry", Revocation{}, nil},
		{"global cutoff a second ago", NewRevocation(RevokeAll, AllValue, at(-time.Second), "key compromised"), nil},
		{"global cutoff at this very millisecond", NewRevocation(RevokeAll, AllValue, at(0), "key compromised"), ErrInvalidCredentials},
		{"global cutoff typed by hand in the future", Revocation{Kind: RevokeAll, Value: AllValue, RevokedAt: at(time.Minute), ExpiresAt: at(time.Hour)}, ErrInvalidCredentials},
		{"global entry typed by hand without cutoff", Revocation{Kind: RevokeAll, Value: AllValue, ExpiresAt: at(time.Hour)}, ErrInvalidCredentials},
		{"global entry without cutoff, expired", Revocation{Kind: RevokeAll, Value: AllValue, ExpiresAt: at(-time.Second)}, nil},
		{"global entry under another value", Revocation{Kind: RevokeAll, Value: "u1", ExpiresAt: at(time.Hour)}, nil},
		{"user entry without cutoff", Revocation{Kind: RevokeUser, Value: "u1", ExpiresAt: at(time.Hour)}, ErrInvalidCredentials},
		{"user cutoff a second ago", NewRevocation(RevokeUser, "u1", at(-time.Second), "logout-all"), nil},
	}
	for _, tc := range cases {
		t.Run(tc.description, func(t *testing.T) {
			store := newMemStore(&User{Username: "alice", ID: "u1", PasswordHash: "hash"})
			if tc.entry.Kind != "" {
				store.revocations[string(tc.entry.Kind)+"#"+tc.entry.Value] = tc.entry
			}
			svc := testLogin(store, fakeSigner{}, func(_, pw string) (bool, error) { return pw == "pw", nil }, Options{Issuer: "https://auth.test", Audience: "https://api.test", ClientID: "web",
				AccessTokenTTL: 15 * time.Minute, RefreshTokenTTL: time.Hour, Now: (&testClock{t: t0}).Now,
				LoginMaxFailures: 3, LoginLockoutBase: 30 * time.Second, LoginLockoutMax: 3 * time.Minute})
			got, err := svc.Login(context.Background(), "alice", "pw", "")
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && got.AccessToken == "") {
				t.Fatalf("Login = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil && len(store.sessions) != 0 {
				t.Fatalf("a refused login left %d sessions", len(store.sessions))
			}
		})
	}
}

// TestRevokeAllRequest: the console's {"all": true} writes the one global
// entry (all#*) with the cutoff now and a user entry's lifetime; it is
// exclusive with the other targets.
func TestRevokeAllRequest(t *testing.T) {
	store := newMemStore(nil)
	o := Options{Now: (&testClock{t: t0}).Now, Logger: slog.New(slog.DiscardHandler)}
	svc := NewRevoke(store, NewOperatorRevoker(store, NoMetrics{}, o), o)
	for _, bad := range []RevokeRequest{{All: true, UserID: "u1"}, {All: true, JTI: "j1"}, {All: true, SessionID: "s"}, {Reason: "nothing named"}} {
		if _, err := svc.Revoke(context.Background(), bad); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("Revoke(%+v) = %v, want ErrInvalidRequest", bad, err)
		}
	}
	if len(store.revocations) != 0 {
		t.Fatalf("refused requests wrote %v", store.revocations)
	}
	r, err := svc.Revoke(context.Background(), RevokeRequest{All: true, Reason: "key compromised"})
	if err != nil {
		t.Fatal(err)
	}
	stored, ok := store.revocations["all#*"]
	if !ok || stored != r || r.Kind != RevokeAll || r.Value != AllValue || !r.RevokedAt.Equal(t0) ||
		r.ExpiresAt.Sub(t0) != MaxRefreshTokenTTL+MaxAccessTokenTTL+MaxClockLeeway || r.Reason != "key compromised" {
		t.Fatalf("Revoke(all) = %+v, stored %+v (%v)", r, stored, ok)
	}
	if !r.Covers(Target{TokenID: "j", SessionID: "s", UserID: "anyone", SessionStart: t0}, t0.Add(time.Minute)) {
		t.Fatal("the global entry spares a session started at its cutoff")
	}
}
