package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/localaws"
)

// recordedWire is the BenchmarkWire output recorded in testdata/wire.txt:
// the calls each function's init made against local-kms and DynamoDB
// Local, by "Wire/<function>".
func recordedWire(t *testing.T) map[string]sample {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "wire.txt"))
	if err != nil {
		t.Fatal(err)
	}
	wire, err := parseBench(b)
	if err != nil {
		t.Fatal(err)
	}
	return wire
}

func repoEnv(t *testing.T, functions []string) map[string]map[string]string {
	t.Helper()
	root, err := localaws.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	env, err := templateEnv(root, functions)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// TestInitVerdictFromRecordedWire: on a recorded run, every function's
// init calls are judged against what template.yaml configures it with,
// the 15 functions all measured (not the 8 the fixed verdict covered),
// none avoidable, so the computed verdict is met and says how many.
func TestInitVerdictFromRecordedWire(t *testing.T) {
	wire := recordedWire(t)
	var functions []string
	for name := range wire {
		fn, ok := strings.CutPrefix(name, "Wire/")
		if !ok {
			t.Fatalf("unexpected benchmark %s in testdata/wire.txt", name)
		}
		functions = append(functions, fn)
	}
	slices.Sort(functions)
	if len(functions) < 15 {
		t.Fatalf("testdata/wire.txt holds %d functions, want the 15 recorded", len(functions))
	}
	checks := judgeInit(functions, wire, repoEnv(t, functions))
	byName := map[string]initCheck{}
	for _, c := range checks {
		byName[c.function] = c
		if !c.measured || len(c.avoidable) > 0 {
			t.Errorf("%s: measured %v, avoidable %q", c.function, c.measured, c.avoidable)
		}
	}
	for fn, want := range map[string]string{
		"authorizer": "DynamoDB.GetItem×1, DynamoDB.Query×2, KMS.GetPublicKey×1",
		"login":      "KMS.GenerateMac×1, KMS.GetPublicKey×1",
		"discovery":  "KMS.GetPublicKey×1",
		"me":         "none",
	} {
		if got := byName[fn].calls; got != want {
			t.Errorf("%s's calls = %q, want %q", fn, got, want)
		}
	}
	if got, want := initVerdict(checks), "**met**: every call of the 15 functions has its reason (Cold start)"; got != want {
		t.Errorf("verdict %q, want %q", got, want)
	}
}

// TestInitVerdictNotMet: a call no configuration needs, a call beyond its
// count, a replica load in strict mode and a function not measured each
// make the verdict "not met", naming what.
func TestInitVerdictNotMet(t *testing.T) {
	functions := []string{"authorizer", "jwks", "me", "revoke"}
	env := repoEnv(t, functions)
	strict := map[string]string{}
	for k, v := range env["authorizer"] {
		strict[k] = v
	}
	strict["REVOCATION_MODE"] = "strict"
	for _, tc := range []struct {
		name string
		wire map[string]sample
		env  map[string]map[string]string
		want []string
	}{
		{"a write at init", map[string]sample{
			"Wire/authorizer": {"KMS.GetPublicKey/op": 1}, "Wire/jwks": {"KMS.GetPublicKey/op": 1},
			"Wire/me": {}, "Wire/revoke": {"DynamoDB.PutItem/op": 1},
		}, env, []string{"revoke DynamoDB.PutItem×1 (nothing in its configuration needs it)"}},
		{"a key fetched twice", map[string]sample{
			"Wire/authorizer": {"KMS.GetPublicKey/op": 1}, "Wire/jwks": {"KMS.GetPublicKey/op": 2},
			"Wire/me": {}, "Wire/revoke": {},
		}, env, []string{"jwks KMS.GetPublicKey×1 (1 needed)"}},
		{"a key fetched by a function that verifies nothing", map[string]sample{
			"Wire/authorizer": {}, "Wire/jwks": {"KMS.GetPublicKey/op": 1},
			"Wire/me": {"KMS.GetPublicKey/op": 1}, "Wire/revoke": {},
		}, env, []string{"me KMS.GetPublicKey×1"}},
		{"a replica load in strict mode", map[string]sample{
			"Wire/authorizer": {"KMS.GetPublicKey/op": 1, "DynamoDB.Query/op": 2}, "Wire/jwks": {"KMS.GetPublicKey/op": 1},
			"Wire/me": {}, "Wire/revoke": {},
		}, map[string]map[string]string{"authorizer": strict, "jwks": env["jwks"], "me": env["me"], "revoke": env["revoke"]},
			[]string{"authorizer DynamoDB.Query×2"}},
		{"a function not measured", map[string]sample{
			"Wire/authorizer": {"KMS.GetPublicKey/op": 1}, "Wire/jwks": {"KMS.GetPublicKey/op": 1}, "Wire/me": {},
		}, env, []string{"not measured: revoke"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := initVerdict(judgeInit(functions, tc.wire, tc.env))
			if !strings.HasPrefix(got, "**not met**") {
				t.Errorf("verdict %q, want not met", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("verdict %q lacks %q", got, w)
				}
			}
		})
	}
	if got := initVerdict(nil); !strings.HasPrefix(got, "**not met**") {
		t.Errorf("no function: verdict %q", got)
	}
}

// TestColdStartSection: the cold-start table says "not measured" for a
// function whose init was not counted (it once said "none"), names an
// avoidable call, and lists each need with the functions it applies to.
func TestColdStartSection(t *testing.T) {
	functions := []string{"authorizer", "discovery", "me"}
	r := &report{opts: &options{coldRuns: 3},
		cold: coldResult{ready: map[string][]float64{"authorizer": {40, 41, 42}, "discovery": {20, 21, 22}, "me": {10, 11, 12}},
			firstInvoke: []float64{5, 6, 7}},
		services: serviceResult{functions: functions, initEnv: repoEnv(t, functions),
			wire: map[string]sample{"Wire/authorizer": {"KMS.GetPublicKey/op": 1, "DynamoDB.Query/op": 2}, "Wire/me": {"DynamoDB.Scan/op": 1}}}}
	var w mdWriter
	r.writeCold(&w)
	got := w.String()
	for _, want := range []string{
		"| authorizer | 41.00 ms | 42.00 ms | DynamoDB.Query×2, KMS.GetPublicKey×1 | none |",
		"| discovery | 21.00 ms | 22.00 ms | not measured | not measured |",
		"| me | 11.00 ms | 12.00 ms | DynamoDB.Scan×1 | **DynamoDB.Scan×1 (nothing in its configuration needs it)** |",
		"| KMS.GetPublicKey | `SIGNING_KEY_ID` | authorizer, discovery | 1 |",
		"| DynamoDB.Query | `REVOCATION_MODE=replica` | authorizer | as the load takes |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("cold-start section lacks %q:\n%s", want, got)
		}
	}
}

// TestEndToEndWordingFollowsTheMode: the end-to-end section says where the
// revocation check happens in the mode the run measured: the in-memory
// replica (no DynamoDB call per request) in replica mode, a DynamoDB read
// per request in strict mode.
func TestEndToEndWordingFollowsTheMode(t *testing.T) {
	series := map[string][]float64{"GET /me (authorizer + me)": {3, 3, 4}, seriesGetItem: {1, 1, 1}, "GET /.well-known/jwks.json (gateway hop)": {2, 2, 2}}
	for mode, tc := range map[string]struct{ want, not []string }{
		"replica": {want: []string{"`REVOCATION_MODE=replica`", "in-memory replica", "no DynamoDB call for the request"},
			not: []string{"revocation lookup on local DynamoDB"}},
		"strict": {want: []string{"`REVOCATION_MODE=strict`", "its revocation lookup on local DynamoDB (one consistent `BatchGetItem` per request)"},
			not: []string{"in-memory replica"}},
	} {
		t.Run(mode, func(t *testing.T) {
			r := &report{opts: &options{plot: "infra/bench/authorizer-latency.svg"}, e2e: e2eResult{
				via: "the local API gateway (scripts/dev)", series: series, warmups: 1, mode: mode,
				order: []string{"GET /me (authorizer + me)", seriesGetItem, "GET /.well-known/jwks.json (gateway hop)"},
				floor: seriesGetItem, hop: "GET /.well-known/jwks.json (gateway hop)", cmd: "scripts/bench"}}
			var w mdWriter
			r.writeEndToEnd(&w)
			got := w.String()
			for _, s := range tc.want {
				if !strings.Contains(got, s) {
					t.Errorf("lacks %q:\n%s", s, got)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(got, s) {
					t.Errorf("says %q in %s mode:\n%s", s, mode, got)
				}
			}
		})
	}
}

// TestWritersVerdicts: the writers' goals get verdicts computed from the
// run, met and not met.
func TestWritersVerdicts(t *testing.T) {
	for _, tc := range []struct {
		wr   writersResult
		want []string
	}{
		{writersResult{handMs: []float64{900, 1200, 1900}, floodItems: 42, logoutAllMs: 976},
			[]string{"(goal: max ≤ 2 s: **met**)", "(goal: ≤ 60: **met**)", "(goal: ≤ 1 s: **met**)"}},
		{writersResult{handMs: []float64{900, 2100}, floodItems: 61, logoutAllMs: 1001},
			[]string{"(goal: max ≤ 2 s: **not met**)", "(goal: ≤ 60: **not met**)", "(goal: ≤ 1 s: **not met**)"}},
	} {
		r := &report{writers: tc.wr}
		var w mdWriter
		r.writeWriters(&w)
		for _, s := range tc.want {
			if !strings.Contains(w.String(), s) {
				t.Errorf("lacks %q:\n%s", s, w.String())
			}
		}
	}
}

// TestSignInSection: the sign-in table has a row per series with its
// median, p90 and median over the password login's, computed from the
// run's samples (the same password + TOTP samples give another ratio
// next to another password login), and the prose says how many TOTP
// users the run enrolled.
func TestSignInSection(t *testing.T) {
	totpSamples := []float64{90, 70, 80, 200, 75, 85, 95, 78, 82, 88}
	for _, tc := range []struct {
		password []float64
		want     []string
	}{
		{[]float64{40, 50, 60, 45, 55, 42, 48, 52, 58, 100}, []string{
			"| " + seriesPasswordLogin + " | 50.00 ms | 60.00 ms | 1.00 |",
			"| " + seriesTOTPLogin + " | 82.00 ms | 95.00 ms | 1.64 |",
			"| " + seriesTOTPPassword + " | 50.00 ms | 52.00 ms | 1.00 |",
			"| " + seriesTOTPFinish + " | 30.00 ms | 31.00 ms | 0.60 |",
		}},
		{[]float64{20, 41, 41, 41, 41, 41, 60, 60, 60, 61}, []string{
			"| " + seriesPasswordLogin + " | 41.00 ms | 60.00 ms | 1.00 |",
			"| " + seriesTOTPLogin + " | 82.00 ms | 95.00 ms | 2.00 |",
			"| " + seriesTOTPPassword + " | 50.00 ms | 52.00 ms | 1.22 |",
			"| " + seriesTOTPFinish + " | 30.00 ms | 31.00 ms | 0.73 |",
		}},
	} {
		r := &report{signIn: signInResult{n: 10, warmups: 5, totpUsers: 15,
			series: map[string][]float64{
				seriesPasswordLogin: tc.password,
				seriesPasskeyLogin:  {30, 30, 30},
				seriesPasskeyFinish: {20, 20, 20},
				seriesTOTPLogin:     totpSamples,
				seriesTOTPPassword:  {50, 52, 48, 51, 49, 50, 150, 50, 50, 50},
				seriesTOTPFinish:    {30, 29, 31, 30, 28, 32, 30, 30, 31, 29},
			},
			order: []string{seriesPasswordLogin, seriesPasskeyLogin, seriesPasskeyFinish, seriesTOTPLogin, seriesTOTPPassword, seriesTOTPFinish}}}
		var w mdWriter
		r.writeSignIn(&w)
		got := w.String()
		for _, s := range append(tc.want, "10 of each after 5 warm-ups", "each login is of its own user: 15 users",
			"| sign-in | median | p90 | × password login |") {
			if !strings.Contains(got, s) {
				t.Errorf("sign-in section lacks %q:\n%s", s, got)
			}
		}
		rows := 0
		for _, line := range strings.Split(got, "\n") {
			if strings.HasPrefix(line, "| ") && strings.Contains(line, " ms | ") {
				rows++
			}
		}
		if rows != 6 {
			t.Errorf("%d rows with times, want 6 (one per series):\n%s", rows, got)
		}
	}
}

// TestTOTPLoginCode: a password + TOTP login sends the code of a step the
// service takes and has not seen (later than the confirming code's, at
// most one step ahead of now's), computed as an authenticator app does.
func TestTOTPLoginCode(t *testing.T) {
	now := time.Unix(3000+29, 0) // the last second of step 100
	for _, tc := range []struct{ confirmed, want int64 }{
		{100, 101}, // confirmed in this step: the next one, within the skew
		{99, 100},  // confirmed in the previous step: now's
		{40, 100},
	} {
		if got := totpLoginStep(now, tc.confirmed); got != tc.want {
			t.Errorf("confirmed at step %d: login step %d, want %d", tc.confirmed, got, tc.want)
		}
	}
	// RFC 6238 Appendix B, SHA-1, T = 59 s (step 1): 94287082, of which 6
	// digits; the secret is the ASCII "12345678901234567890" in base32.
	got, err := totpCode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 1)
	if err != nil || got != "287082" {
		t.Errorf("totpCode = %q, %v; want 287082", got, err)
	}
}
