package app_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/app"
)

// TestRevokedTokenStaysDenied: a revoked token stays denied until it
// expires, not only right after its revocation: by a warm authorizer that
// syncs once a second as in production (its view keeps the entry for the
// token lifetime), and by an authorizer that starts cold 14 minutes later
// (its load reads back a whole token lifetime). Both modes.
func TestRevokedTokenStaysDenied(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "rosa", "a long enough password")
	s := newServiceByInterval(t, env, nil)
	jtiTok := s.doLogin(t, "rosa", "a long enough password")
	_, jtiCtx := s.authorize(t, jtiTok.Access)
	s.clock.Advance(time.Second)
	userTok := s.doLogin(t, "rosa", "a long enough password")
	_, userCtx := s.authorize(t, userTok.Access)
	if _, err := s.revoke(context.Background(), []byte(`{"jti":"`+jtiCtx["jti"].(string)+`"}`)); err != nil {
		t.Fatal(err)
	}
	call(t, s.logoutAll, protected(t, "logout-all", userCtx))

	for elapsed := time.Duration(0); elapsed < 14*time.Minute; elapsed += 20 * time.Second {
		s.clock.Advance(20 * time.Second)
		for name, tok := range map[string]string{"revoked jti": jtiTok.Access, "after logout-all": userTok.Access} {
			if ok, _ := s.authorize(t, tok); ok {
				t.Fatalf("%s: allowed %s after its revocation (the token lives 15 minutes)", name, elapsed+20*time.Second)
			}
		}
	}
	cold, err := app.Authorizer(context.Background(), env.Getenv, app.WithClock(s.clock.Now),
		app.WithLogger(slog.New(slog.DiscardHandler)), app.WithMetrics(&testenv.EMFLog{}))
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"revoked jti": jtiTok.Access, "after logout-all": userTok.Access} {
		out, err := cold(context.Background(), fixture(t, "authorizer", "REPLACE_WITH_ACCESS_TOKEN", tok))
		if err != nil {
			t.Fatal(err)
		}
		if out.(events.APIGatewayV2CustomAuthorizerSimpleResponse).IsAuthorized {
			t.Errorf("%s: a cold authorizer 14 minutes after the revocation allows it", name)
		}
	}
}

// TestTokensLivingTooLongRefused: a token of our key, issuer and audience
// whose exp is more than ACCESS_TOKEN_TTL after its iat is refused by the
// authorizer and inactive at introspection: the replica keeps revocations
// for that lifetime only (token.WithMaxLifetime, wired by app). One living
// exactly the lifetime is accepted.
func TestTokensLivingTooLongRefused(t *testing.T) {
	env := testenv.New(t)
	s := newService(t, env)
	sign := func(ttl time.Duration) string {
		t.Helper()
		tok, err := localaws.AccessToken(context.Background(), env.KMS, env.KeyID, "RS256", localaws.Token{
			Issuer: env.Getenv("ISSUER"), Audience: env.Getenv("AUDIENCE"), Subject: "usr_long", TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ttl := 15 * time.Minute // ACCESS_TOKEN_TTL's default, which the test environment keeps
	if v := env.Getenv("ACCESS_TOKEN_TTL"); v != "" {
		var err error
		if ttl, err = time.ParseDuration(v); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := s.authorize(t, sign(ttl)); !ok {
		t.Fatalf("a token living ACCESS_TOKEN_TTL (%s) is denied: the control failed", ttl)
	}
	long := sign(ttl + time.Minute)
	if ok, _ := s.authorize(t, long); ok {
		t.Errorf("a token living %s (ACCESS_TOKEN_TTL %s) is allowed", ttl+time.Minute, ttl)
	}
	in, resp := s.introspection(t, long)
	if in.Active {
		t.Errorf("introspection of a token living too long: %s", resp.Body)
	}
}
