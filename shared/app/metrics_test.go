package app_test

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/metrics"
)

// suiteMetrics receives every metric line every test of this package
// writes (newServiceWith), each checked against the EMF rules as it comes
// (testenv.ParseEMF).
var suiteMetrics = &testenv.EMFLog{}

// TestMain runs the package's tests, then checks every metric line they
// wrote: each must pass ParseEMF (directives, Timestamp, units, at most 30
// dimensions per set, numeric values, every name a root member, no
// member that is neither a dimension nor a metric, no identifier-like
// dimension value). A whole-package run must also have seen every metric
// and dimension value listed in wantSeen, so that the check covers every
// path that writes one.
func TestMain(m *testing.M) {
	flag.Parse()
	code := testenv.Main(m) // local KMS and DynamoDB started here when no endpoint is given
	errs := suiteMetrics.Errors()
	for _, e := range errs {
		fmt.Fprintf(os.Stderr, "metric line against the EMF rules: %s\n", e)
	}
	lines := suiteMetrics.Lines()
	for _, x := range lines { // and the metrics and values the alarms may ask for
		if err := declared(x); err != nil {
			errs = append(errs, err.Error())
			fmt.Fprintf(os.Stderr, "metric line against metrics.DimensionSets and metrics.Values: %v: %s\n", err, x.Raw)
		}
	}
	run := flag.Lookup("test.run")
	whole := run == nil || run.Value.String() == "" // not a targeted run (-run)
	if len(errs) > 0 || (whole && len(lines) == 0) {
		fmt.Fprintf(os.Stderr, "FAIL: %d metric lines failed the EMF rules, %d passed\n", len(errs), len(lines))
		code = max(code, 1)
	}
	if code == 0 && whole {
		seen := suiteMetrics.Seen()
		for _, want := range wantSeen(os.Getenv("AUTH_TEST_REVOCATION_MODE")) {
			if !slices.Contains(seen, want) {
				fmt.Fprintf(os.Stderr, "FAIL: no test wrote the metric %s (seen: %s)\n", want, strings.Join(seen, " "))
				code = 1
			}
		}
	}
	fmt.Fprintf(os.Stderr, "metrics: %d lines checked against the EMF rules\n", len(lines))
	os.Exit(code)
}

// declared checks a line against what shared/metrics declares: each
// metric with exactly its DimensionSets, each dimension but Function with
// one of its Values.
func declared(x *testenv.EMFLine) error {
	for m := range x.Metrics {
		sets, ok := metrics.DimensionSets[m]
		if !ok {
			return fmt.Errorf("metric %s is not declared", m)
		}
		if fmt.Sprint(x.Sets) != fmt.Sprint(sets) {
			return fmt.Errorf("metric %s with dimensions %v, declared %v", m, x.Sets, sets)
		}
	}
	for d, v := range x.Dimensions {
		if d != metrics.DimFunction && !slices.Contains(metrics.Values[d], v) {
			return fmt.Errorf("dimension %s=%q is not among %q", d, v, metrics.Values[d])
		}
	}
	return nil
}

// wantSeen is every metric and dimension value the package's flows write.
func wantSeen(mode string) []string {
	var want []string
	for _, o := range []string{"ok", "invalid_credentials", "locked", "invalid_request", "unavailable"} {
		want = append(want, "Login{Outcome="+o+"}")
	}
	for _, o := range []string{"ok", "reuse_detected", "invalid", "forbidden", "invalid_request", "unavailable"} {
		want = append(want, "Refresh{Outcome="+o+"}")
	}
	for _, k := range []string{"token", "session", "user", "all"} {
		want = append(want, "Revocation{Kind="+k+"}")
	}
	want = append(want, "LoginLockout{}", "AuthorizerDecision{}", "AuthorizerLatency{}",
		"DependencyError{Service=DynamoDB,Kind=error}", "DependencyError{Service=DynamoDB,Kind=timeout}",
		"DependencyError{Service=KMS,Kind=error}")
	// Fail closed: a store that does not answer (strict mode), a replica
	// view too old (replica mode: TestDynamoDBFailureAnswers503).
	failClosed := "stale"
	if mode == "strict" {
		failClosed = "unavailable"
	}
	for _, r := range []string{"no_token", "malformed", "header", "unknown_key", "signature", "expired", "claims", "revoked", failClosed} {
		want = append(want, "AuthorizerDecision{Decision=deny,Reason="+r+"}", "AuthorizerLatency{Decision=deny,Reason="+r+"}")
	}
	want = append(want, "AuthorizerDecision{Decision=allow,Reason=ok}")
	if mode != "strict" {
		want = append(want, "ReplicaAge{}")
	}
	want = append(want, "ReplicaClockSkew{}") // TestAuthorizerClockSkew runs the replica in both modes
	want = append(want, "ReplicaRefused{}")   // TestFeedLayoutMismatchDenies runs the replica in both modes
	return want
}

// TestMetricsOfEachFlow: each flow writes the metrics that tell an
// operator what happened, with the right dimensions and counts, and
// nothing else identifies the user: a login and a wrong password, a
// lockout, a rotation, reuse (which also writes a session revocation),
// logout, logout-all, a console revoke and an RFC 7009 revocation, and the authorizer's allow and
// denials with their reasons and latencies.
func TestMetricsOfEachFlow(t *testing.T) {
	env := testenv.New(t)
	env.Set("LOGIN_MAX_FAILURES", "2")
	const pw = "a long enough password"
	user := env.CreateUser(t, "miaquill", pw)
	s := newService(t, env)
	m := s.metrics

	count := func(metric string, dims ...string) float64 {
		t.Helper()
		want := map[string]string{}
		for i := 0; i+1 < len(dims); i += 2 {
			want[dims[i]] = dims[i+1]
		}
		return m.Count(metric, want)
	}
	expect := func(what string, got, want float64) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %v, want %v\nlines:\n%s", what, got, want, m.Raw())
		}
	}

	first := s.doLogin(t, "miaquill", pw)
	call(t, s.login, loginEvent(t, "miaquill", "wrong"))
	call(t, s.login, loginEvent(t, "miaquill", "wrong")) // the second failure locks
	call(t, s.login, loginEvent(t, "miaquill", pw))      // 429
	expect("Login ok", count(metrics.Login, "Outcome", "ok"), 1)
	expect("Login invalid_credentials", count(metrics.Login, "Outcome", "invalid_credentials"), 2)
	expect("Login locked", count(metrics.Login, "Outcome", "locked"), 1)
	expect("LoginLockout", count(metrics.LoginLockout), 1)

	second := s.readTokens(t, s.refreshWith(t, first.Refresh))
	s.clock.Advance(time.Minute)
	s.refreshWith(t, first.Refresh) // reuse: the session is revoked
	expect("Refresh ok", count(metrics.Refresh, "Outcome", "ok"), 1)
	expect("Refresh reuse_detected", count(metrics.Refresh, "Outcome", "reuse_detected"), 1)
	expect("Revocation session", count(metrics.Revocation, "Kind", "session"), 1)
	s.refreshWith(t, second.Refresh) // its session is gone: invalid, no new revocation
	expect("Refresh invalid", count(metrics.Refresh, "Outcome", "invalid"), 1)
	expect("Revocation session after an invalid refresh", count(metrics.Revocation, "Kind", "session"), 1)

	if ok, _ := s.authorize(t, second.Access); ok {
		t.Fatal("an access token of a revoked session allowed")
	}
	expect("AuthorizerDecision revoked", count(metrics.AuthorizerDecision, "Decision", "deny", "Reason", "revoked"), 1)
	s.clock.Advance(time.Hour) // past the lockout
	third := s.doLogin(t, "miaquill", pw)
	_, authCtx := s.authorize(t, third.Access)
	expect("AuthorizerDecision allow", count(metrics.AuthorizerDecision, "Decision", "allow", "Reason", "ok"), 1)
	s.authorize(t, "not a token")
	expect("AuthorizerDecision no_token", count(metrics.AuthorizerDecision, "Reason", "no_token"), 1)
	s.clock.Advance(time.Hour)
	s.authorize(t, third.Access)
	expect("AuthorizerDecision expired", count(metrics.AuthorizerDecision, "Reason", "expired"), 1)
	for _, x := range m.Lines() {
		if _, ok := x.Metrics[metrics.AuthorizerDecision]; ok && len(x.Metrics[metrics.AuthorizerLatency]) != 1 {
			t.Errorf("a decision without its one latency: %s", x.Raw)
		}
	}

	call(t, s.logoutAll, protected(t, "logout-all", authCtx))
	expect("Revocation user", count(metrics.Revocation, "Kind", "user"), 1)
	if _, err := s.revoke(context.Background(), []byte(`{"jti":"a-jti-of-the-operator's-choice"}`)); err != nil {
		t.Fatal(err)
	}
	expect("Revocation token", count(metrics.Revocation, "Kind", "token"), 1)
	// RFC 7009: the holder revokes an access token (a jti entry), then
	// the same token again (already covered: nothing written, not counted).
	s.clock.Advance(2 * time.Second) // past the logout-all above
	fourth := s.doLogin(t, "miaquill", pw)
	for range 2 {
		if resp := call(t, s.revocation, formEvent(t, "token-revocation", url.Values{"token": {fourth.Access}})); resp.StatusCode != 200 {
			t.Fatalf("RFC 7009 revocation: %d %s", resp.StatusCode, resp.Body)
		}
	}
	expect("Revocation token after RFC 7009", count(metrics.Revocation, "Kind", "token", "Function", "token-revocation"), 1)

	// Every line is a valid EMF line of our namespace, named by the
	// function that wrote it, and holds no identifier of this flow.
	if errs := m.Errors(); len(errs) > 0 {
		t.Errorf("lines against the EMF rules:\n%s", strings.Join(errs, "\n"))
	}
	secrets := []string{user.ID, "miaquill", pw, first.Access, first.Refresh, second.Refresh, third.Access,
		fourth.Access, first.Refresh[:32], authCtx["jti"].(string), authCtx["sid"].(string), "a-jti-of-the-operator's-choice"}
	for _, x := range m.Lines() {
		if x.Namespace != metrics.Namespace {
			t.Errorf("namespace %q, want %q: %s", x.Namespace, metrics.Namespace, x.Raw)
		}
		if !slices.Contains([]string{"login", "refresh", "logout", "logout-all", "authorizer", "revoke", "token-revocation"}, x.Dimensions["Function"]) {
			t.Errorf("Function %q: %s", x.Dimensions["Function"], x.Raw)
		}
		for _, secret := range secrets {
			if strings.Contains(x.Raw, secret) {
				t.Errorf("a metric line holds %q: %s", secret, x.Raw)
			}
		}
	}
}
