package auth

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

// TestSessionEndedHow: a refresh of a session that has ended says how it
// ended (SessionEndedError, still ErrInvalidRefreshToken); a token of no
// session, or reuse itself, says nothing.
func TestSessionEndedHow(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		description string
		options     func(*Options)
		end         func(r *rowEnv)
		present     func(r *rowEnv) string
		want        string // "": no SessionEndedError
	}{
		{description: "lifetime over", end: func(r *rowEnv) { r.clock.Advance(7 * 24 * time.Hour) }, want: EndedExpired},
		{description: "idle too long", options: func(o *Options) { o.RefreshIdleTimeout = time.Hour },
			end: func(r *rowEnv) { r.clock.Advance(time.Hour + time.Second) }, want: EndedExpired},
		{description: "logged out", end: func(r *rowEnv) { must(r, r.logout.Logout(ctx, current(r))) }, want: EndedHere},
		{description: "ended from another device's list", end: func(r *rowEnv) {
			must(r, NewSessionEnd(r.store, testRevoker(r.store, rowOptions(r)), rowOptions(r)).End(ctx, "u1", r.sid))
		}, want: EndedHere},
		{description: "logout-all", end: func(r *rowEnv) {
			_, err := NewLogoutAll(testRevoker(r.store, rowOptions(r)), rowOptions(r)).LogoutAll(ctx, "u1")
			must(r, err)
		}, want: EndedLogoutAll},
		{description: "an operator revoked the user", end: func(r *rowEnv) {
			_, err := operatorRevoke(r).Revoke(ctx, RevokeRequest{UserID: "u1", Reason: "stolen laptop"})
			must(r, err)
		}, want: EndedRevoked},
		{description: "an operator revoked the session", end: func(r *rowEnv) {
			_, err := operatorRevoke(r).Revoke(ctx, RevokeRequest{SessionID: r.sid, Reason: "suspicious"})
			must(r, err)
		}, want: EndedRevoked},
		{description: "the user was disabled", end: func(r *rowEnv) { r.store.user.Disabled = true }, want: EndedRevoked},
		{description: "the session ended for reuse: its current token", end: func(r *rowEnv) {
			r.rotate()
			r.clock.Advance(time.Minute)
			if _, err := r.refresh.Refresh(ctx, r.tokens[0]); !errors.Is(err, ErrRefreshTokenReused) {
				r.t.Fatalf("reuse: %v", err)
			}
		}, want: EndedRevoked},
		{description: "reuse detection itself says nothing", end: func(r *rowEnv) { r.rotate(); r.clock.Advance(time.Minute) },
			present: func(r *rowEnv) string { return r.tokens[0] }},
		{description: "a wrong secret for a real session says nothing",
			present: func(r *rowEnv) string { return r.sid + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }},
	} {
		t.Run(tc.description, func(t *testing.T) {
			r := newRowEnv(t, tc.options)
			if tc.end != nil {
				tc.end(r)
			}
			present := current
			if tc.present != nil {
				present = tc.present
			}
			_, err := r.refresh.Refresh(ctx, present(r))
			if !errors.Is(err, ErrInvalidRefreshToken) {
				t.Fatalf("refresh: %v, want ErrInvalidRefreshToken", err)
			}
			var ended *SessionEndedError
			got := ""
			if errors.As(err, &ended) {
				got = ended.How
			}
			if got != tc.want {
				t.Errorf("refresh: %v: session ended %q, want %q", err, got, tc.want)
			}
		})
	}
}

// rowOptions are the row's settings, on its clock (logs discarded).
func rowOptions(r *rowEnv) Options {
	return Options{Issuer: "https://auth.test", Audience: "https://api.test", ClientID: "web",
		AccessTokenTTL: 15 * time.Minute, RefreshTokenTTL: 7 * 24 * time.Hour,
		RefreshReuseGrace: r.grace, Now: r.clock.Now, Logger: slog.New(slog.DiscardHandler)}
}

// operatorRevoke is the console's revoke function over the row's store.
func operatorRevoke(r *rowEnv) *Revoke {
	return NewRevoke(r.store, NewOperatorRevoker(r.store, NoMetrics{}, rowOptions(r)), rowOptions(r))
}

func must(r *rowEnv, err error) {
	r.t.Helper()
	if err != nil {
		r.t.Fatal(err)
	}
}
