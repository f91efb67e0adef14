package auth

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestCheckBinding: the DPoP rule of a refresh (RFC 9449 5), every mode
// against every kind of session and proof, without a server.
func TestCheckBinding(t *testing.T) {
	const k, other = "key-thumbprint", "another-thumbprint"
	cases := []struct {
		mode         DPoPMode
		bound, proof string
		want         error // nil: refresh goes on
		notBound     bool  // the refusal is ErrSessionNotBound
	}{
		// A bound session needs a proof of its key, whatever the mode.
		{DPoPOptional, k, k, nil, false},
		{DPoPRequired, k, k, nil, false},
		{DPoPOff, k, k, nil, false},
		{DPoPOptional, k, "", ErrInvalidDPoPProof, false},
		{DPoPRequired, k, "", ErrInvalidDPoPProof, false},
		{DPoPOff, k, "", ErrInvalidDPoPProof, false},
		{DPoPOptional, k, other, ErrInvalidDPoPProof, false},
		{DPoPOff, k, other, ErrInvalidDPoPProof, false},
		// A bearer session: no proof is fine unless DPoP is required; a
		// proof does not bind it now (refused) unless DPoP is off.
		{DPoPOptional, "", "", nil, false},
		{DPoPOff, "", "", nil, false},
		{DPoPOff, "", k, nil, false},
		{DPoPOptional, "", k, ErrInvalidRefreshToken, true},
		{DPoPRequired, "", k, ErrInvalidRefreshToken, true},
		{DPoPRequired, "", "", ErrInvalidRefreshToken, true},
	}
	for _, c := range cases {
		err := checkBinding(c.mode, c.bound, c.proof)
		if !errors.Is(err, c.want) || (c.want == nil && err != nil) || errors.Is(err, ErrSessionNotBound) != c.notBound {
			t.Errorf("mode %s, session key %q, proof key %q: %v, want %v (not bound: %v)", c.mode, c.bound, c.proof, err, c.want, c.notBound)
		}
		// A refusal for the proof is never reuse: it comes with no
		// ErrRefreshTokenReused, and (TestDPoPRefreshRules) writes nothing.
		if errors.Is(err, ErrRefreshTokenReused) {
			t.Errorf("mode %s, %q/%q: a DPoP refusal counted as reuse", c.mode, c.bound, c.proof)
		}
	}
}

// TestParseDPoPMode: the three spellings of DPOP_MODE, and nothing else.
func TestParseDPoPMode(t *testing.T) {
	for _, m := range []DPoPMode{DPoPOff, DPoPOptional, DPoPRequired} {
		if got, err := ParseDPoPMode(m.String()); err != nil || got != m {
			t.Errorf("ParseDPoPMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	for _, bad := range []string{"", "on", "Optional", "true"} {
		if _, err := ParseDPoPMode(bad); err == nil {
			t.Errorf("ParseDPoPMode(%q) accepted", bad)
		}
	}
}

// TestDPoPRefreshRules: refreshes of a session bound to a key, and of a
// bearer one with a proof, against the in-memory store: what is written,
// whether the session ends, and what the tokens carry.
func TestDPoPRefreshRules(t *testing.T) {
	const k, other = "key-thumbprint", "another-thumbprint"
	bind := func(r *rowEnv) { r.store.sessions[r.sid].JKT = k }
	rows := []struct {
		description string
		mode        DPoPMode
		setup       func(r *rowEnv)
		present     func(r *rowEnv) string
		proof       string
		wantErr     error
		notBound    bool
		wantWrites  int
		wantRevoked bool
		wantJKT     string // of the tokens handed out
	}{
		{description: "a bound session's current token with a proof of its key rotates, bound",
			mode: DPoPOptional, setup: bind, present: current, proof: k, wantWrites: 1, wantJKT: k},
		{description: "a bound session's current token without a proof is refused, nothing written",
			mode: DPoPOptional, setup: bind, present: current, wantErr: ErrInvalidDPoPProof},
		{description: "a bound session's current token with a proof of another key is refused, nothing written",
			mode: DPoPOptional, setup: bind, present: current, proof: other, wantErr: ErrInvalidDPoPProof},
		{description: "a bound session's replaced token within grace without a proof is refused",
			mode: DPoPOptional, setup: func(r *rowEnv) { bind(r); r.rotateWith(k) }, present: replaced, wantErr: ErrInvalidDPoPProof},
		{description: "a bound session's rotated-out token without a proof is not reuse: refused, nothing written",
			mode: DPoPOptional, setup: func(r *rowEnv) { bind(r); r.rotateWith(k); r.clock.Advance(time.Minute) },
			present: replaced, wantErr: ErrInvalidDPoPProof},
		{description: "a bound session's rotated-out token with a proof of another key is not reuse",
			mode: DPoPOptional, setup: func(r *rowEnv) { bind(r); r.rotateWith(k); r.clock.Advance(time.Minute) },
			present: replaced, proof: other, wantErr: ErrInvalidDPoPProof},
		{description: "a bound session's rotated-out token with a proof of its key is reuse",
			mode: DPoPOptional, setup: func(r *rowEnv) { bind(r); r.rotateWith(k); r.clock.Advance(time.Minute) },
			present: replaced, proof: k, wantErr: ErrRefreshTokenReused, wantWrites: 2, wantRevoked: true},
		{description: "a wrong secret for a bound session is an invalid token, not a DPoP refusal",
			mode: DPoPOptional, setup: bind, present: func(r *rowEnv) string { return r.sid + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
			wantErr: ErrInvalidRefreshToken},
		{description: "DPoP off: a bound session still needs its key",
			mode: DPoPOff, setup: bind, present: current, wantErr: ErrInvalidDPoPProof},
		{description: "DPoP off: a bound session with its key rotates, bound",
			mode: DPoPOff, setup: bind, present: current, proof: k, wantWrites: 1, wantJKT: k},
		{description: "a bearer session refreshed with a proof is not bound now: refused, nothing written",
			mode: DPoPOptional, present: current, proof: k, wantErr: ErrInvalidRefreshToken, notBound: true},
		{description: "DPoP required: a bearer session is refused",
			mode: DPoPRequired, present: current, wantErr: ErrInvalidRefreshToken, notBound: true},
		{description: "DPoP off: a bearer session with a proof rotates, bearer",
			mode: DPoPOff, present: current, proof: k, wantWrites: 1},
		{description: "a bearer session without a proof rotates, bearer",
			mode: DPoPOptional, present: current, wantWrites: 1},
	}
	for _, row := range rows {
		t.Run(row.description, func(t *testing.T) {
			r := newRowEnv(t, func(o *Options) { o.DPoPMode = row.mode })
			if row.setup != nil {
				row.setup(r)
			}
			presented := row.present(r)
			before := r.store.writes
			got, err := r.refresh.Refresh(context.Background(), presented, WithRefreshDPoPKey(row.proof))
			if !errors.Is(err, row.wantErr) || (row.wantErr == nil && err != nil) || errors.Is(err, ErrSessionNotBound) != row.notBound {
				t.Fatalf("Refresh: %v, want %v (not bound: %v)", err, row.wantErr, row.notBound)
			}
			if writes := r.store.writes - before; writes != row.wantWrites {
				t.Errorf("%d store writes, want %d", writes, row.wantWrites)
			}
			sess := r.store.sessions[r.sid]
			if revoked := !sess.RevokedAt.IsZero(); revoked != row.wantRevoked {
				t.Errorf("session ended: %v (%s), want %v", revoked, sess.Reason, row.wantRevoked)
			}
			if errors.Is(err, ErrInvalidDPoPProof) && errors.Is(err, ErrInvalidRefreshToken) {
				t.Errorf("a DPoP refusal reads as an invalid refresh token (the client would log in again): %v", err)
			}
			if row.wantErr != nil {
				if got.AccessToken != "" || got.RefreshToken != "" {
					t.Errorf("a refused refresh handed out %+v", got)
				}
				return
			}
			c := unsignedClaims(t, got.AccessToken)
			if got.JKT != row.wantJKT || c.BoundKey() != row.wantJKT {
				t.Errorf("tokens bound to %q, access token cnf.jkt %q; want %q", got.JKT, c.BoundKey(), row.wantJKT)
			}
			if sess.JKT != row.wantJKT && row.wantJKT != "" {
				t.Errorf("session key %q after the refresh, want %q", sess.JKT, row.wantJKT)
			}
		})
	}

	t.Run("the token refused for its missing proof still works with the proof", func(t *testing.T) {
		r := newRowEnv(t, func(o *Options) { o.DPoPMode = DPoPOptional })
		bind(r)
		if _, err := r.refresh.Refresh(context.Background(), current(r)); !errors.Is(err, ErrInvalidDPoPProof) {
			t.Fatalf("without a proof: %v", err)
		}
		got, err := r.refresh.Refresh(context.Background(), current(r), WithRefreshDPoPKey(k))
		if err != nil || got.JKT != k || !equalHash(r.store.sessions[r.sid].TokenHash, hashToken(got.RefreshToken)) {
			t.Fatalf("with the proof after the refusal: %+v, %v", got, err)
		}
	})
}

// rotateWith refreshes with the current token and a proof of key jkt.
func (r *rowEnv) rotateWith(jkt string) {
	r.t.Helper()
	got, err := r.refresh.Refresh(context.Background(), current(r), WithRefreshDPoPKey(jkt))
	if err != nil {
		r.t.Fatalf("setup rotation: %v", err)
	}
	r.tokens = append(r.tokens, got.RefreshToken)
}

// TestLoginBindsTheSession: a login with a proof's key starts a session
// bound to it, whose first access token carries it as cnf.jkt (RFC 9449
// 6.1); one without starts a bearer session.
func TestLoginBindsTheSession(t *testing.T) {
	for _, jkt := range []string{"key-thumbprint", ""} {
		clock := &testClock{t: t0}
		store := newMemStore(&User{Username: "alice", ID: "u1", PasswordHash: "h", Scopes: []string{"read"}})
		l := testLogin(store, fakeSigner{}, func(string, string) (bool, error) { return true, nil },
			Options{Issuer: "https://auth.test", Audience: "https://api.test", ClientID: "web", AccessTokenTTL: 15 * time.Minute,
				RefreshTokenTTL: time.Hour, LoginMaxFailures: 5, LoginLockoutBase: time.Second, LoginLockoutMax: time.Minute,
				DPoPMode: DPoPOptional, Now: clock.Now})
		got, err := l.Login(context.Background(), "alice", "pw", "", WithDPoPKey(jkt))
		if err != nil {
			t.Fatal(err)
		}
		if got.JKT != jkt || store.sessions[got.SessionID].JKT != jkt || unsignedClaims(t, got.AccessToken).BoundKey() != jkt {
			t.Errorf("login with key %q: tokens %q, session %q, cnf.jkt %q", jkt, got.JKT, store.sessions[got.SessionID].JKT,
				unsignedClaims(t, got.AccessToken).BoundKey())
		}
	}
}
