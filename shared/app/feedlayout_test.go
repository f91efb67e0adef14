package app_test

import (
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/app"
	"github.com/authkit/lambda-auth/shared/metrics"
)

// TestFeedLayoutReachesEveryAuthorizer: with the revocation feed laid out
// in copies and shards (FEED_COPIES=3, FEED_SHARDS=2, as the template
// passes them to every function), what the revoke function and logout-all
// write reaches authorizers whichever copy each picked at its start: eight
// stacks of functions (eight authorizers, a copy each at random) deny a
// revoked user's token and keep allowing another user's.
func TestFeedLayoutReachesEveryAuthorizer(t *testing.T) {
	env := testenv.New(t)
	env.Set("FEED_COPIES", "3")
	env.Set("FEED_SHARDS", "2")
	env.CreateUser(t, "fern", "the right password")
	u := env.CreateUser(t, "gus", "the right password")
	writer := newService(t, env)
	fern := writer.doLogin(t, "fern", "the right password")
	gus := writer.doLogin(t, "gus", "the right password")
	writer.clock.Advance(time.Second)
	if _, err := writer.revoke(context.Background(), []byte(`{"user_id":"`+u.ID+`","reason":"test"}`)); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	// The writer used the layout: every feed item in both buckets of the
	// three copies, some under a slot's key (bucket × 10000 + slot).
	out, err := env.DB.Scan(context.Background(), &dynamodb.ScanInput{TableName: &env.Tables.RevocationFeed})
	if err != nil {
		t.Fatal(err)
	}
	slotted := 0
	for _, it := range out.Items {
		if k, _ := strconv.ParseInt(it["bucket"].(*types.AttributeValueMemberN).Value, 10, 64); k >= 1<<40 {
			slotted++
		}
	}
	if len(out.Items) == 0 || len(out.Items)%6 != 0 || slotted == 0 {
		t.Fatalf("%d feed items, %d under a slot's key: want a multiple of 6 (2 buckets × 3 copies), some slotted", len(out.Items), slotted)
	}
	for i := range 8 {
		s := newService(t, env)
		s.clock.Advance(2 * time.Second) // past the writer's clock
		if ok, _ := s.authorize(t, gus.Access); ok {
			t.Errorf("authorizer %d: the revoked user's token allowed", i)
		}
		if ok, _ := s.authorize(t, fern.Access); !ok {
			t.Errorf("authorizer %d: another user's token denied", i)
		}
	}
}

// TestFeedLayoutMismatchDenies: an authorizer configured with another
// feed layout than the stack's writers and compaction (FEED_SHARDS 1
// against 4: it would read one shard in four) denies every token, even
// one nobody revoked, writes ReplicaRefused, and logs both layouts. In
// strict mode (README's procedure for a layout change) the same
// authorizer reads the table and allows it.
func TestFeedLayoutMismatchDenies(t *testing.T) {
	for _, mode := range []string{"replica", "strict"} {
		t.Run(mode, func(t *testing.T) {
			env := testenv.New(t)
			env.Set("FEED_SHARDS", "4")
			env.CreateUser(t, "hana", "the right password")
			s := newService(t, env)
			tok := s.doLogin(t, "hana", "the right password")
			snap, err := app.RevocationSnapshot(context.Background(), env.Getenv, app.WithClock(s.clock.Now), app.WithMetrics(io.Discard))
			if err != nil {
				t.Fatal(err)
			}
			if res, err := snap(context.Background(), fixture(t, "revocation-snapshot")); err != nil || res.Outcome != "written" {
				t.Fatalf("compaction: %+v %v", res, err)
			}
			env.Set("FEED_SHARDS", "1")
			env.Set("REVOCATION_MODE", mode)
			other := newService(t, env)
			ok, _ := other.authorize(t, tok.Access)
			refused := other.metrics.Count(metrics.ReplicaRefused, nil)
			logs := other.logs.String()
			if mode == "strict" {
				if !ok || refused != 0 {
					t.Fatalf("strict mode: allowed %v, ReplicaRefused %v; want allowed, none", ok, refused)
				}
				return
			}
			if ok {
				t.Fatal("an authorizer laid out 1x1 on a 1x4 feed allowed a token")
			}
			if refused < 1 {
				t.Errorf("ReplicaRefused %v, want at least 1", refused)
			}
			if !strings.Contains(logs, "1x4") || !strings.Contains(logs, "1x1") {
				t.Errorf("no log line names both layouts (1x4, 1x1):\n%s", logs)
			}
		})
	}
}
