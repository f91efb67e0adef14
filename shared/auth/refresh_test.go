package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/token"
)

// refreshRow is one refresh rule: a session in some state, a token
// presented, and what must come of it.
type refreshRow struct {
	description string
	options     func(*Options)
	// setup brings the session (started with tokens[0] at t0) to the
	// state of the row; it may rotate, move the clock, revoke.
	setup func(r *rowEnv)
	// present picks the token presented.
	present func(r *rowEnv) string
	wantErr error
	// wantNext: the refresh token handed out equals this one (by index in
	// r.tokens, -1 for "a new one, appended").
	wantNext    int
	wantRevoked bool // the session ends (reuse detection)
	wantWrites  int  // store writes made by the presented refresh
}

type rowEnv struct {
	t       *testing.T
	login   *Login
	refresh *Refresh
	logout  *Logout
	grace   time.Duration // RefreshReuseGrace
	store   *memStore
	clock   *testClock
	tokens  []string // tokens[0] from login, then one per rotation
	sid     string
}

// rotate refreshes with the current token, as a client does.
func (r *rowEnv) rotate() {
	r.t.Helper()
	got, err := r.refresh.Refresh(context.Background(), r.tokens[len(r.tokens)-1])
	if err != nil {
		r.t.Fatalf("setup rotation: %v", err)
	}
	r.tokens = append(r.tokens, got.RefreshToken)
}

func newRowEnv(t *testing.T, options func(*Options)) *rowEnv {
	t.Helper()
	clock := &testClock{t: t0}
	user := &User{Username: "alice", ID: "u1", Scopes: []string{"read"}}
	store := newMemStore(user)
	o := Options{Issuer: "https://auth.test", Audience: "https://api.test", ClientID: "web",
		AccessTokenTTL: 15 * time.Minute, RefreshTokenTTL: 7 * 24 * time.Hour,
		RefreshReuseGrace: 5 * time.Second, Now: clock.Now}
	if options != nil {
		options(&o)
	}
	o.Logger = slog.New(slog.DiscardHandler)
	login := testLogin(store, fakeSigner{}, func(string, string) (bool, error) { return false, nil }, o)
	tok, err := login.startSession(context.Background(), user, device{}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	revoker := testRevoker(store, o)
	return &rowEnv{t: t, login: login, refresh: NewRefresh(store, revoker, NewAccessIssuer(fakeSigner{}, o), testMAC, o),
		logout: NewLogout(store, revoker, o), grace: o.RefreshReuseGrace,
		store: store, clock: clock, tokens: []string{tok.RefreshToken}, sid: tok.SessionID}
}

func current(r *rowEnv) string  { return r.tokens[len(r.tokens)-1] }
func replaced(r *rowEnv) string { return r.tokens[len(r.tokens)-2] }

// TestRefreshRules: every kind of presented token and session state,
// without a server. The same rules run against local DynamoDB in
// shared/app (TestReuseGraceWindow, TestLostRefreshAnswer, ...).
func TestRefreshRules(t *testing.T) {
	rows := []refreshRow{
		{description: "the current token rotates",
			present: current, wantNext: -1, wantWrites: 1},
		{description: "the same token again at once gets the same successor, no write",
			setup: func(r *rowEnv) { r.rotate() }, present: replaced, wantNext: 1},
		{description: "the replaced token within the grace window gets the same successor",
			setup: func(r *rowEnv) { r.rotate(); r.clock.Advance(5 * time.Second) }, present: replaced, wantNext: 1},
		{description: "the replaced token after the grace window is reuse",
			setup: func(r *rowEnv) { r.rotate(); r.clock.Advance(ReplacedTokenWindow(r.grace) + time.Millisecond) }, present: replaced,
			wantErr: ErrInvalidRefreshToken, wantRevoked: true, wantWrites: 2},
		{description: "the grace window counts from the write, not from the start of its request",
			setup: func(r *rowEnv) {
				r.store.beforeRotate = func() { r.clock.Advance(2500 * time.Millisecond) } // the write lands as late as it may
				r.rotate()
				r.store.beforeRotate = nil
				r.clock.Advance(5 * time.Second) // the whole window after the write
			}, present: replaced, wantNext: 1},
		{description: "a slow request before the write does not eat the window",
			setup: func(r *rowEnv) {
				r.store.beforeStanding = func() { r.clock.Advance(4 * time.Second) } // slow reads and signing
				r.rotate()
				r.store.beforeStanding = nil
				r.clock.Advance(5 * time.Second)
			}, present: replaced, wantNext: 1},
		{description: "a rotation whose answer was lost is found in place: the same successor",
			setup: func(r *rowEnv) { r.store.rotateErr = ErrRotationConflict }, present: current, wantNext: -1, wantWrites: 1},
		{description: "grace off: the replaced token at the rotation's very instant is reuse",
			options: func(o *Options) { o.RefreshReuseGrace = 0 },
			setup:   func(r *rowEnv) { r.rotate() }, present: replaced,
			wantErr: ErrInvalidRefreshToken, wantRevoked: true, wantWrites: 2},
		{description: "grace off: the replaced token from a refresh whose clock is behind is reuse",
			options: func(o *Options) { o.RefreshReuseGrace = 0 },
			setup:   func(r *rowEnv) { r.rotate(); r.clock.Advance(-50 * time.Millisecond) }, present: replaced,
			wantErr: ErrInvalidRefreshToken, wantRevoked: true, wantWrites: 2},
		{description: "a replay of a token of a session already ended for reuse writes nothing",
			setup: func(r *rowEnv) {
				r.rotate()
				r.clock.Advance(time.Minute)
				if _, err := r.refresh.Refresh(context.Background(), r.tokens[0]); !errors.Is(err, ErrInvalidRefreshToken) {
					r.t.Fatal(err)
				}
			}, present: func(r *rowEnv) string { return r.tokens[0] },
			wantErr: ErrInvalidRefreshToken, wantRevoked: true},
		{description: "a token two rotations old is reuse even within the window",
			setup: func(r *rowEnv) { r.rotate(); r.rotate() }, present: func(r *rowEnv) string { return r.tokens[0] },
			wantErr: ErrInvalidRefreshToken, wantRevoked: true, wantWrites: 2},
		{description: "a wrong secret for a real session touches nothing",
			present: func(r *rowEnv) string { return r.sid + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
			wantErr: ErrInvalidRefreshToken},
		{description: "a malformed token touches nothing",
			present: func(r *rowEnv) string { return "not a token" }, wantErr: ErrInvalidRefreshToken},
		{description: "an expired session refuses its current token",
			setup: func(r *rowEnv) { r.clock.Advance(7 * 24 * time.Hour) }, present: current, wantErr: ErrInvalidRefreshToken},
		{description: "an idle session refuses its current token",
			options: func(o *Options) { o.RefreshIdleTimeout = time.Hour },
			setup:   func(r *rowEnv) { r.clock.Advance(time.Hour + time.Second) }, present: current, wantErr: ErrInvalidRefreshToken},
		{description: "an idle timeout does not end a session in use",
			options: func(o *Options) { o.RefreshIdleTimeout = time.Hour },
			setup:   func(r *rowEnv) { r.clock.Advance(50 * time.Minute); r.rotate(); r.clock.Advance(50 * time.Minute) },
			present: current, wantNext: -1, wantWrites: 1},
		{description: "an ended session refuses its current token",
			setup: func(r *rowEnv) {
				if err := r.logout.Logout(context.Background(), current(r)); err != nil {
					r.t.Fatal(err)
				}
			}, present: current, wantErr: ErrInvalidRefreshToken},
		{description: "an ended session refuses its replaced token within grace",
			setup: func(r *rowEnv) {
				r.rotate()
				if err := r.logout.Logout(context.Background(), current(r)); err != nil {
					r.t.Fatal(err)
				}
			}, present: replaced, wantErr: ErrInvalidRefreshToken},
		{description: "a user revocation after the session started ends it",
			setup: func(r *rowEnv) {
				r.clock.Advance(time.Second)
				r.store.PutRevocation(context.Background(), NewRevocation(RevokeUser, "u1", r.clock.Now(), "logout-all"))
			}, present: current, wantErr: ErrInvalidRefreshToken},
		{description: "a user revocation before the session started spares it",
			setup: func(r *rowEnv) {
				r.store.PutRevocation(context.Background(), NewRevocation(RevokeUser, "u1", t0.Add(-time.Millisecond), "logout-all"))
			}, present: current, wantNext: -1, wantWrites: 1},
		{description: "a global cutoff after the session started ends it",
			setup: func(r *rowEnv) {
				r.clock.Advance(time.Second)
				r.store.PutRevocation(context.Background(), NewRevocation(RevokeAll, AllValue, r.clock.Now(), "key compromised"))
			}, present: current, wantErr: ErrInvalidRefreshToken},
		{description: "a global cutoff before the session started spares it",
			setup: func(r *rowEnv) {
				r.store.PutRevocation(context.Background(), NewRevocation(RevokeAll, AllValue, t0.Add(-time.Millisecond), "key compromised"))
			}, present: current, wantNext: -1, wantWrites: 1},
		{description: "a disabled user's session is refused",
			setup: func(r *rowEnv) { r.store.user.Disabled = true }, present: current, wantErr: ErrInvalidRefreshToken},
		{description: "a session whose username now names another user is refused",
			setup: func(r *rowEnv) { r.store.user.ID = "u2" }, present: current, wantErr: ErrInvalidRefreshToken},
		{description: "the rotation limit ends a session",
			setup: func(r *rowEnv) {
				s := r.store.sessions[r.sid]
				s.Retired = make([][]byte, MaxRotations)
			}, present: current, wantErr: ErrInvalidRefreshToken},
		{description: "a replaced token whose successor was not derived from it (rotated before successors were) conflicts",
			setup: func(r *rowEnv) {
				r.rotate()
				r.store.sessions[r.sid].TokenHash = hashToken(newRefreshToken(r.sid))
			}, present: replaced, wantErr: ErrRefreshConflict},
		{description: "a store failure of the rotation is unavailable, and a retry in time gets the successor",
			setup:   func(r *rowEnv) { r.store.rotateErr = errors.New("connection reset") },
			present: current, wantErr: ErrUnavailable, wantWrites: 1},
	}
	for _, row := range rows {
		t.Run(row.description, func(t *testing.T) {
			r := newRowEnv(t, row.options)
			if row.setup != nil {
				row.setup(r)
			}
			presented := row.present(r)
			before := r.store.writes
			got, err := r.refresh.Refresh(context.Background(), presented)
			if !errors.Is(err, row.wantErr) || (row.wantErr == nil && err != nil) {
				t.Fatalf("Refresh: %v, want %v", err, row.wantErr)
			}
			if writes := r.store.writes - before; writes != row.wantWrites {
				t.Errorf("%d store writes, want %d", writes, row.wantWrites)
			}
			sess := r.store.sessions[r.sid]
			if revoked := sess.RevokedAt.IsZero() == false && sess.Reason == "refresh token reuse"; revoked != row.wantRevoked {
				t.Errorf("session revoked for reuse: %v, want %v", revoked, row.wantRevoked)
			}
			if _, ok := r.store.revocations["sid#"+r.sid]; ok != (row.wantRevoked || sess.Reason == "logout") {
				t.Errorf("sid# revocation entry present: %v", ok)
			}
			if row.wantErr != nil {
				if got.RefreshToken != "" || got.AccessToken != "" {
					t.Errorf("a refused refresh handed out %+v", got)
				}
				if errors.Is(row.wantErr, ErrUnavailable) {
					// The write landed; its answer did not. The client's
					// retry with the same token is answered in full.
					r.store.rotateErr = nil
					retry, err := r.refresh.Refresh(context.Background(), presented)
					if err != nil || !equalHash(sess.TokenHash, hashToken(retry.RefreshToken)) {
						t.Fatalf("retry after a lost answer: %v", err)
					}
				}
				return
			}
			if got.AccessToken == "" || got.SessionID != r.sid {
				t.Fatalf("Refresh = %+v", got)
			}
			want := ""
			if row.wantNext >= 0 {
				want = r.tokens[row.wantNext]
			} else if got.RefreshToken == presented || got.RefreshToken == "" {
				t.Fatalf("rotation handed out %q", got.RefreshToken)
			}
			if want != "" && got.RefreshToken != want {
				t.Errorf("handed out another refresh token than the successor already written")
			}
			if !equalHash(sess.TokenHash, hashToken(got.RefreshToken)) {
				t.Error("the refresh token handed out is not the session's current one: the chain forked")
			}
		})
	}
}

// TestSuccessorIsKeyed: the successor depends on the presented token and
// on the key, so a stolen token does not reveal it without the key.
func TestSuccessorIsKeyed(t *testing.T) {
	a := newMACKey("Refresh", testMAC)
	b := newMACKey("Refresh", []byte("fedcba9876543210fedcba9876543210"))
	sid := newSessionID(t0)
	p1, p2 := newRefreshToken(sid), newRefreshToken(sid)
	n := a.successor(p1, sid)
	if _, ok := parseRefreshToken(n); !ok {
		t.Fatalf("successor %q is not a refresh token", n)
	}
	if n != a.successor(p1, sid) || n == a.successor(p2, sid) || n == b.successor(p1, sid) || n[:sessionIDLen] != sid {
		t.Fatal("successor is not a keyed function of the presented token within its session")
	}
}

// TestRefreshKeepsHowTheUserSignedIn: a refresh is not a new sign-in
// (RFC 9068 2.2.1, OpenID Connect Core 2): the access tokens of a refresh
// carry the login's amr and auth_time, not the refresh's time; a bound
// session's tokens carry its key in cnf.jkt (RFC 9449 6.1).
func TestRefreshKeepsHowTheUserSignedIn(t *testing.T) {
	r := newRowEnv(t, nil)
	r.clock.Advance(10 * time.Minute)
	got, err := r.refresh.Refresh(context.Background(), current(r))
	if err != nil {
		t.Fatal(err)
	}
	c := unsignedClaims(t, got.AccessToken)
	if strings.Join(c.AMR, " ") != AMRPassword || c.AuthTime == nil || !c.AuthTime.Equal(t0.Truncate(time.Second)) {
		t.Errorf("refreshed token: amr %v auth_time %v, want [pwd] at the login (%v)", c.AMR, c.AuthTime, t0)
	}
	if c.Confirmation != nil {
		t.Errorf("bearer session's token has cnf %+v", c.Confirmation)
	}

	sess := *r.store.sessions[r.sid]
	sess.JKT, sess.AMR = "thumb", []string{AMRHardware, AMRUser}
	access, _, err := r.refresh.issuer.issue(context.Background(), &sess, r.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if c := unsignedClaims(t, access); c.BoundKey() != "thumb" || !c.HasAMR(AMRHardware) || !c.HasAMR(AMRUser) {
		t.Errorf("bound session's token: cnf %+v amr %v", c.Confirmation, c.AMR)
	}
}

// unsignedClaims reads a token's payload without checking it (the test
// signer's signatures are not real).
func unsignedClaims(t *testing.T, raw string) *token.Claims {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", raw)
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c token.Claims
	if err := json.Unmarshal(pb, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}
