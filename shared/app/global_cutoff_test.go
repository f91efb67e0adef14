package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/auth"
)

// TestGlobalCutoff: the console's events/revoke-all.json ends every
// session and access token issued before it, for every user, at every
// reader, in the run's revocation mode (scripts/test runs this package
// in both): the authorizer denies the old tokens in its three event
// shapes (HTTP API false, REST 401), refresh refuses the old sessions
// (401 on the cookie route, invalid_grant at the token endpoint),
// introspection calls the old tokens inactive, the session list drops the
// old sessions; a login after it works and its token is allowed.
func TestGlobalCutoff(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "gwen", "gwen's long password")
	env.CreateUser(t, "hugo", "hugo's long password")
	s := newService(t, env)
	ctx := context.Background()

	gwen := s.doLogin(t, "gwen", "gwen's long password")
	hugo := s.doLogin(t, "hugo", "hugo's long password")
	hugoAccess, hugoRefresh := s.loginInBody(t, "hugo", "hugo's long password")
	for _, tok := range []string{gwen.Access, hugo.Access, hugoAccess} {
		if ok, _ := s.authorize(t, tok); !ok {
			t.Fatal("a fresh token is denied before the cutoff")
		}
	}
	s.clock.Advance(time.Second)

	res, err := s.revoke(ctx, fixture(t, "revoke-all"))
	if err != nil {
		t.Fatalf("revoke with events/revoke-all.json: %v", err)
	}
	if res.Revoked != "all" || res.Key != "all#*" || !res.RevokedAt.Equal(s.clock.Now().UTC()) ||
		res.ExpiresAt.Sub(res.RevokedAt) != auth.MaxRefreshTokenTTL+auth.MaxAccessTokenTTL+auth.MaxClockLeeway {
		t.Fatalf("revoke-all answered %+v", res)
	}
	s.clock.Advance(time.Millisecond)

	for _, tok := range []string{gwen.Access, hugo.Access, hugoAccess} {
		for _, kind := range authorizerKinds {
			if s.allows(t, kind, "Bearer "+tok) {
				t.Errorf("%s authorizer: a token issued before the global cutoff is allowed", kind)
			}
		}
		if in, resp := s.introspection(t, tok); resp.StatusCode != 200 || in.Active {
			t.Errorf("introspection of a token issued before the cutoff: %d %s", resp.StatusCode, resp.Body)
		}
	}
	for name, refresh := range map[string]string{"gwen": gwen.Refresh, "hugo": hugo.Refresh} {
		if resp := s.refreshWith(t, refresh); resp.StatusCode != 401 {
			t.Errorf("%s: refresh of a session started before the cutoff: %d %s, want 401", name, resp.StatusCode, resp.Body)
		}
	}
	if resp := s.grant(t, hugoRefresh); resp.StatusCode != 400 || errorCode(t, resp) != "invalid_grant" {
		t.Errorf("token endpoint refresh of a session started before the cutoff: %d %s, want 400 invalid_grant", resp.StatusCode, resp.Body)
	}

	// A login after the cutoff starts a live session: allowed, refreshed,
	// listed alone among the user's devices.
	again := s.doLogin(t, "gwen", "gwen's long password")
	if ok, _ := s.authorize(t, again.Access); !ok {
		t.Fatal("a token of a login after the global cutoff is denied")
	}
	if in, resp := s.introspection(t, again.Access); resp.StatusCode != 200 || !in.Active {
		t.Errorf("introspection of a token after the cutoff: %d %s", resp.StatusCode, resp.Body)
	}
	if ids := sessionIDs(s.sessionsOf(t, again.Access)); !slices.Equal(ids, []string{again.Refresh[:32]}) {
		t.Errorf("session list after the cutoff: %q, want only the new session %q", ids, again.Refresh[:32])
	}
	s.clock.Advance(time.Second)
	next := s.readTokens(t, s.refreshWith(t, again.Refresh))
	if ok, _ := s.authorize(t, next.Access); !ok {
		t.Fatal("the refreshed token of a session started after the cutoff is denied")
	}
	if ok, _ := s.authorize(t, gwen.Access); ok {
		t.Fatal("the old token is allowed again a second later")
	}
}
