package app_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
)

// TestConcurrentRefresh: 50 refreshes with one token at once (tabs, retries).
// Every one gets the same next refresh token, each its own access token;
// the session was rotated exactly once and its one chain goes on.
func TestConcurrentRefresh(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "dave", "a long enough password")
	s := newService(t, env)
	tok := s.doLogin(t, "dave", "a long enough password")

	const n = 50
	var wg sync.WaitGroup
	results := make([]tokens, n)
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() {
			resp := s.refreshWith(t, tok.Refresh)
			statuses[i] = resp.StatusCode
			if resp.StatusCode == 200 {
				results[i] = s.readTokens(t, resp)
			}
		})
	}
	wg.Wait()
	access := map[string]bool{}
	for i, st := range statuses {
		if st != 200 {
			t.Fatalf("refresh %d: status %d, want 200 for every copy (statuses %v)", i, st, statuses)
		}
		if results[i].Refresh != results[0].Refresh {
			t.Fatalf("refresh %d got another next token: the session forked", i)
		}
		access[results[i].Access] = true
	}
	if len(access) != n {
		t.Errorf("%d distinct access tokens for %d refreshes", len(access), n)
	}
	// The session holds that token, and the token the race was run with is
	// now the one just replaced: one rotation.
	sess, err := env.Store.Session(t.Context(), tok.Refresh[:32])
	if err != nil || sess == nil {
		t.Fatalf("session: %v", err)
	}
	current, replaced := sha256.Sum256([]byte(results[0].Refresh)), sha256.Sum256([]byte(tok.Refresh))
	if !bytes.Equal(sess.TokenHash, current[:]) || !bytes.Equal(sess.PrevHash, replaced[:]) || len(sess.Retired) != 1 {
		t.Fatalf("session after the race: %d rotations, want 1 from the raced token to the one handed out", len(sess.Retired))
	}
	// The one chain lives on.
	s.clock.Advance(time.Minute)
	resp := s.refreshWith(t, results[0].Refresh)
	if resp.StatusCode != 200 {
		t.Fatalf("next refresh token: %d %s", resp.StatusCode, resp.Body)
	}
	if ok, _ := s.authorize(t, s.readTokens(t, resp).Access); !ok {
		t.Fatal("session did not survive the race")
	}
}

// TestReuseGraceWindow: the token just rotated out, presented again within
// the grace window (a retry after a lost answer, a second tab), gets the
// same successor and revokes nothing; after the window it is reuse and
// revokes the session.
func TestReuseGraceWindow(t *testing.T) {
	env := testenv.New(t)
	env.Set("REFRESH_REUSE_GRACE", "5s")
	env.CreateUser(t, "erin", "a long enough password")
	s := newService(t, env)
	first := s.doLogin(t, "erin", "a long enough password")

	resp := s.refreshWith(t, first.Refresh)
	second := s.readTokens(t, resp)
	s.clock.Advance(2 * time.Second)
	resp = s.refreshWith(t, first.Refresh)
	if resp.StatusCode != 200 {
		t.Fatalf("previous token within grace: %d %s, want 200", resp.StatusCode, resp.Body)
	}
	again := s.readTokens(t, resp)
	if again.Refresh != second.Refresh || again.Access == second.Access {
		t.Fatal("a retry within grace got another refresh token (or the same access token)")
	}
	if ok, _ := s.authorize(t, second.Access); !ok {
		t.Fatal("grace-window retry revoked the session")
	}
	resp = s.refreshWith(t, second.Refresh)
	if resp.StatusCode != 200 {
		t.Fatalf("current token after a grace retry: %d %s", resp.StatusCode, resp.Body)
	}
	third := s.readTokens(t, resp)

	// A token two rotations old is reuse even within the window.
	if resp := s.refreshWith(t, first.Refresh); resp.StatusCode != 401 {
		t.Fatalf("older token: %d %s, want 401", resp.StatusCode, resp.Body)
	}
	if ok, _ := s.authorize(t, third.Access); ok {
		t.Fatal("session not revoked on reuse of an older token")
	}
	if resp := s.refreshWith(t, third.Refresh); resp.StatusCode != 401 {
		t.Fatalf("current token after reuse: %d", resp.StatusCode)
	}
}

// TestForgedRefreshToken: a well-formed token naming a real session but with
// a wrong secret is refused and does not touch the session.
func TestForgedRefreshToken(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "frank", "a long enough password")
	s := newService(t, env)
	tok := s.doLogin(t, "frank", "a long enough password")

	forged := tok.Refresh[:33] + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for _, bad := range []string{forged, "garbage", tok.Refresh + "x", tok.Refresh[:len(tok.Refresh)-1]} {
		if resp := s.refreshWith(t, bad); resp.StatusCode != 401 || errorCode(t, resp) != "invalid_refresh_token" {
			t.Errorf("forged %q: %d %s", bad, resp.StatusCode, resp.Body)
		}
	}
	if resp := s.refreshWith(t, tok.Refresh); resp.StatusCode != 200 {
		t.Fatalf("real token after forgeries: %d %s", resp.StatusCode, resp.Body)
	}
}

// TestSessionLifetimes: the absolute lifetime is never extended by
// rotation; the idle timeout ends a session left unused.
func TestSessionLifetimes(t *testing.T) {
	env := testenv.New(t)
	env.Set("REFRESH_TOKEN_TTL", "1h")
	env.Set("REFRESH_IDLE_TIMEOUT", "20m")
	env.CreateUser(t, "gina", "a long enough password")
	s := newService(t, env)

	tok := s.doLogin(t, "gina", "a long enough password")
	for range 3 { // used every 15 minutes: the idle timeout never hits
		s.clock.Advance(15 * time.Minute)
		resp := s.refreshWith(t, tok.Refresh)
		if resp.StatusCode != 200 {
			t.Fatalf("refresh at %v: %d %s", s.clock.Now(), resp.StatusCode, resp.Body)
		}
		tok = s.readTokens(t, resp)
	}
	// 60 minutes after login: the absolute lifetime is over.
	s.clock.Advance(15 * time.Minute)
	if resp := s.refreshWith(t, tok.Refresh); resp.StatusCode != 401 {
		t.Fatalf("refresh past the absolute lifetime: %d", resp.StatusCode)
	}

	tok = s.doLogin(t, "gina", "a long enough password")
	s.clock.Advance(21 * time.Minute)
	if resp := s.refreshWith(t, tok.Refresh); resp.StatusCode != 401 {
		t.Fatalf("refresh past the idle timeout: %d", resp.StatusCode)
	}
}

// TestRefreshTokenInBody: non-browser clients opt in to get and send the
// refresh token in JSON, with no cookie involved.
func TestRefreshTokenInBody(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "ivan", "a long enough password")
	s := newService(t, env)

	req := loginEvent(t, "ivan", "a long enough password")
	req.Body = `{"username":"ivan","password":"a long enough password","refresh_token_in_body":true}`
	// A browser (it sends Origin) gets the refresh token only as a cookie.
	if resp := call(t, s.login, req); resp.StatusCode != 400 {
		t.Fatalf("refresh_token_in_body from a browser: %d %s, want 400", resp.StatusCode, resp.Body)
	}
	delete(req.Headers, "origin")
	resp := call(t, s.login, req)
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	json.Unmarshal([]byte(resp.Body), &body)
	if resp.StatusCode != 200 || body.RefreshToken == "" || len(resp.Cookies) != 0 {
		t.Fatalf("login with refresh_token_in_body: %d cookies=%v", resp.StatusCode, resp.Cookies)
	}

	resp = call(t, s.refresh, bodyRefresh(t, body.RefreshToken))
	var next struct {
		RefreshToken string `json:"refresh_token"`
	}
	json.Unmarshal([]byte(resp.Body), &next)
	if resp.StatusCode != 200 || next.RefreshToken == "" || next.RefreshToken == body.RefreshToken || len(resp.Cookies) != 0 {
		t.Fatalf("body refresh: %d %s", resp.StatusCode, resp.Body)
	}
}
