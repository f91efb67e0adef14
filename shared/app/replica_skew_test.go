package app_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/app"
	"github.com/authkit/lambda-auth/shared/metrics"
)

// TestAuthorizerClockSkew: an authorizer (replica mode, syncing once a
// second as in production) whose clock runs 8 s ahead of, or behind,
// DynamoDB's and the other functions' denies a token within the sync
// interval of its logout-all, and writes ReplicaClockSkew with the
// skew's sign. An authorizer 8 s ahead never saw a logout while warm
// (it read from its own clock less the overlap).
func TestAuthorizerClockSkew(t *testing.T) {
	for _, skew := range []time.Duration{8 * time.Second, -8 * time.Second} {
		t.Run(skew.String(), func(t *testing.T) {
			env := testenv.New(t)
			env.Set("REVOCATION_MODE", "replica") // this test is about the replica, in both suite runs
			env.CreateUser(t, "sam", "a long enough password")
			s := newService(t, env)
			met := &testenv.EMFLog{}
			authz, err := app.Authorizer(context.Background(), env.Getenv,
				app.WithClock(func() time.Time { return s.clock.Now().Add(skew) }), app.WithStoreClock(s.clock.Now),
				app.WithLogger(slog.New(slog.DiscardHandler)), app.WithMetrics(io.MultiWriter(met, suiteMetrics), metrics.WithFlushInterval(0)))
			if err != nil {
				t.Fatal(err)
			}
			allowed := func(tok string) bool {
				t.Helper()
				out, err := authz(context.Background(), fixture(t, "authorizer", "REPLACE_WITH_ACCESS_TOKEN", tok))
				if err != nil {
					t.Fatal(err)
				}
				return out.(events.APIGatewayV2CustomAuthorizerSimpleResponse).IsAuthorized
			}
			for i := range 5 {
				tok := s.doLogin(t, "sam", "a long enough password")
				_, authCtx := s.authorize(t, tok.Access)
				s.clock.Advance(time.Second)
				if !allowed(tok.Access) {
					t.Fatalf("round %d: a valid token denied by an authorizer %v off", i, skew)
				}
				s.clock.Advance(300 * time.Millisecond)
				call(t, s.logoutAll, protected(t, "logout-all", authCtx))
				s.clock.Advance(1100 * time.Millisecond)
				if allowed(tok.Access) {
					t.Fatalf("round %d: allowed 1.1 s after logout-all by an authorizer whose clock is %v off", i, skew)
				}
				s.clock.Advance(time.Second)
			}
			if got := met.Count(metrics.ReplicaClockSkew, nil); got < float64((skew-1500*time.Millisecond).Milliseconds()) ||
				got > float64((skew+1500*time.Millisecond).Milliseconds()) {
				t.Errorf("ReplicaClockSkew %v ms, want about %v (once: at most one a minute)", got, skew)
			}
		})
	}
}
