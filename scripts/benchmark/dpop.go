package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/authkit/lambda-auth/scripts/dpopclient"
	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
	"github.com/authkit/lambda-auth/shared/app"
	"github.com/authkit/lambda-auth/shared/kmssign"
	"github.com/authkit/lambda-auth/shared/token"
)

// dpopResult is what the DPoP step measured: the authorizer's CPU with a
// DPoP-bound token next to its floors, and replayed proofs against several
// authorizer processes over one DynamoDB, for each DPOP_REPLAY setting.
type dpopResult struct {
	cpu      map[string][]sample
	benchCmd string
	endpoint string
	loadAvg  string
	// replay is by DPOP_REPLAY setting.
	replay []dpopReplayRun
	alone  string // set when the step ran alone (-only dpop)
}

type dpopReplayRun struct {
	setting    string
	processes  int
	sent       int
	accepted   int
	bound      int // what SECURITY.md claims
	latency    []time.Duration
	putItems   int // DynamoDB PutItem calls for newProofs new proofs
	newProofs  int
	dynamoRuns int // DynamoDB calls of any kind for those
}

const (
	dpopProcesses = 4
	dpopReplays   = 10_000
	dpopNewProofs = 300
)

var dpopBenchNames = []string{"AuthorizerDPoPCachedES256", "AuthorizerDPoPNewTokenES256", "DPoPProofES256", "FloorES256", "AuthorizerCachedES256"}

// runDPoP measures DPoP at the resource (RFC 9449 7.1, 11.1).
func runDPoP(ctx context.Context, o *options, r *report) error {
	res := &r.dpop
	bin, err := buildTest(ctx, o, apigwPkg)
	if err != nil {
		return err
	}
	res.cpu, err = interleaved(ctx, bin, filepath.Join(o.root, apigwPkg), benchEnv(), dpopBenchNames, o.rounds,
		func(string) string { return "1s" })
	if err != nil {
		return err
	}
	res.benchCmd = fmt.Sprintf("go test -run '^$' -bench '^Benchmark(%s)$' -benchmem -benchtime 1s -count %d ./%s/", strings.Join(dpopBenchNames, "|"), o.rounds, apigwPkg)

	stack, err := newStack(ctx, o.root)
	if err != nil {
		return err
	}
	res.endpoint = os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")
	res.loadAvg = loadAverage()
	raw, err := os.ReadFile(filepath.Join(o.root, "events", "authorizer.json"))
	if err != nil {
		return err
	}
	client, err := dpopclient.NewKey()
	if err != nil {
		return err
	}
	tok, err := stack.boundToken(ctx, client.JKT())
	if err != nil {
		return err
	}
	const url = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/me"
	event := func(proof string) string {
		return strings.NewReplacer(`"authorization": "Bearer REPLACE_WITH_ACCESS_TOKEN"`, `"authorization": "DPoP `+tok+`", "dpop": "`+proof+`"`,
			"Bearer REPLACE_WITH_ACCESS_TOKEN", "DPoP "+tok).Replace(string(raw))
	}
	vars := map[string]string{}
	for _, kv := range stack.env("authorizer") {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	vars["PUBLIC_ORIGIN"] = "" // the event's own domain, as on API Gateway
	for _, setting := range []string{"shared", "process"} {
		vars["DPOP_REPLAY"] = setting
		run := dpopReplayRun{setting: setting, processes: dpopProcesses, sent: dpopReplays, bound: 1}
		if setting == "process" {
			run.bound = dpopProcesses
		}
		calls := testenv.NewCounter()
		procs := make([]apigw.AuthorizerHandler, dpopProcesses)
		for i := range procs {
			procs[i], err = app.Authorizer(ctx, func(k string) string { return vars[k] }, app.WithAWSOptions(calls.Option()),
				app.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				return err
			}
		}
		// The cost: new proofs through one process, one at a time.
		calls.Reset()
		for range dpopNewProofs {
			ev := []byte(event(client.Proof("GET", url, tok, time.Now())))
			t0 := time.Now()
			ok, err := dpopAllowed(ctx, procs[0], ev)
			run.latency = append(run.latency, time.Since(t0))
			if err != nil || !ok {
				return fmt.Errorf("DPOP_REPLAY %s: a new proof refused (%v)", setting, err)
			}
		}
		run.newProofs, run.putItems, run.dynamoRuns = dpopNewProofs, calls.Op("DynamoDB.PutItem"), calls.Service("DynamoDB")
		// The replay: one proof, sent dpopReplays times over the
		// processes at once (each process one request at a time, as a
		// Lambda container serves them).
		ev := []byte(event(client.Proof("GET", url, tok, time.Now())))
		var accepted atomic.Int64
		var wg sync.WaitGroup
		var firstErr atomic.Value
		for _, h := range procs {
			wg.Go(func() {
				for range dpopReplays / dpopProcesses {
					ok, err := dpopAllowed(ctx, h, ev)
					if err != nil {
						firstErr.CompareAndSwap(nil, err)
					}
					if ok {
						accepted.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if err, _ := firstErr.Load().(error); err != nil {
			return err
		}
		run.accepted = int(accepted.Load())
		res.replay = append(res.replay, run)
	}
	return nil
}

// dpopAllowed runs one authorizer event.
func dpopAllowed(ctx context.Context, h apigw.AuthorizerHandler, ev []byte) (bool, error) {
	out, err := h(ctx, ev)
	if err != nil {
		return false, err
	}
	r, ok := out.(events.APIGatewayV2CustomAuthorizerSimpleResponse)
	if !ok {
		return false, fmt.Errorf("authorizer answered %T", out)
	}
	return r.IsAuthorized, nil
}

// boundToken is an access token as login issues it for a DPoP-bound
// session (cnf.jkt), signed by the stack's key.
func (s *benchStack) boundToken(ctx context.Context, jkt string) (string, error) {
	k, err := kmssign.New(ctx, s.kms, s.keyARN, "RS256")
	if err != nil {
		return "", err
	}
	now := time.Now()
	sid := make([]byte, 24)
	binary.BigEndian.PutUint64(sid, uint64(now.Add(-time.Minute).UnixMilli()))
	rand.Read(sid[8:])
	c := &token.Claims{SessionID: base64.RawURLEncoding.EncodeToString(sid), ClientID: "web", Scope: "read",
		Confirmation: &token.Confirmation{JKT: jkt}}
	c.Issuer, c.Subject, c.ID = benchIssuer, "usr_bench", base64.RawURLEncoding.EncodeToString(sid[8:])
	c.Audience = []string{benchAudience}
	c.IssuedAt, c.ExpiresAt = token.NumericDate(now), token.NumericDate(now.Add(15*time.Minute))
	return token.Issue(ctx, k, c)
}

func (r *report) writeDPoP(w *mdWriter) {
	d := r.dpop
	if len(d.replay) == 0 {
		return
	}
	w.p("## DPoP at the resource: the proof check and replays across authorizer processes")
	w.p("")
	if d.alone != "" {
		w.p("%s", d.alone)
		w.p("")
	}
	med := func(name, unit string) float64 { return median(values(d.cpu[name], unit)) }
	ratio := func(a, b string, bs ...string) float64 {
		den := values(d.cpu[b], "cpu-ns/op")
		for _, extra := range bs {
			for i, v := range values(d.cpu[extra], "cpu-ns/op") {
				if i < len(den) {
					den[i] += v
				}
			}
		}
		return median(ratios(values(d.cpu[a], "cpu-ns/op"), den))
	}
	w.p("The authorizer as `app.Authorizer` wires it (replica mode, verified-token cache) taking `Authorization: DPoP <token>` with a new ES256 proof per request (RFC 9449 7.1), the per-process replay record in front; next to it, in the same rounds, the proof check alone (`dpop.Verifier.Verify`), the bare ES256 check (`BenchmarkFloorES256`) and the bearer path with a cached token. CPU time per operation (cpu-ns/op), medians of %d interleaved rounds; ratios are same-round.", len(d.cpu["FloorES256"]))
	w.p("")
	w.code(d.benchCmd)
	w.header("benchmark", "cpu-ns/op", "ns/op", "allocs/op", "B/op")
	for _, n := range dpopBenchNames {
		w.row(n, f0(med(n, "cpu-ns/op")), f0(med(n, "ns/op")), f0(med(n, "allocs/op")), f0(med(n, "B/op")))
	}
	w.p("")
	w.header("ratio (cpu-ns/op, same round)", "measured", "goal (issue 20)")
	seen := ratio("AuthorizerDPoPCachedES256", "FloorES256")
	fresh := ratio("AuthorizerDPoPNewTokenES256", "FloorES256", "FloorES256")
	both := ratio("AuthorizerDPoPNewTokenES256", "FloorES256", "DPoPProofES256")
	w.row("DPoP, token seen, new proof ÷ one bare ES256 check", f2(seen), fmt.Sprintf("≤ 1.2: %s", yesNo(seen <= 1.2)))
	w.row("DPoP, token seen, new proof ÷ the proof check alone", f2(ratio("AuthorizerDPoPCachedES256", "DPoPProofES256")), "")
	w.row("DPoP, new token, new proof ÷ two bare ES256 checks", f2(fresh), fmt.Sprintf("≤ 2.3 (1.15 × 2): %s", yesNo(fresh <= 2.3)))
	w.row("DPoP, new token, new proof ÷ (one bare ES256 check + the proof check)", f2(both), fmt.Sprintf("≤ %.2f: %s", ratioGoal, yesNo(both <= ratioGoal)))
	w.row("the proof check alone ÷ one bare ES256 check", f2(ratio("DPoPProofES256", "FloorES256")), "")
	w.p("")
	w.p("Replays: one proof sent %d times, spread over %d authorizer processes (`app.Authorizer` instances, each with its own memory: verified-token cache, replica, per-process replay record) at once, each process one request at a time as a Lambda container serves them, against one DynamoDB (`%s`, DynamoDB Local: its latencies are not DynamoDB's). The cost: %d new proofs through one process, one at a time, with the DynamoDB calls counted by SDK middleware. Load average when the step began: %s.",
		dpopReplays, dpopProcesses, d.endpoint, dpopNewProofs, d.loadAvg)
	w.p("")
	w.header("DPOP_REPLAY", "replayed proof accepted", "bound (SECURITY.md)", "new proof: latency median (p99)", "DynamoDB calls per new proof")
	for _, run := range d.replay {
		lat := slices.Clone(run.latency)
		slices.Sort(lat)
		p99 := lat[len(lat)*99/100]
		w.row(run.setting, fmt.Sprintf("%d of %d", run.accepted, run.sent), fmt.Sprintf("%d (%s): %s", run.bound, map[bool]string{true: "once in the fleet", false: "once per process"}[run.setting == "shared"], yesNo(run.accepted <= run.bound)),
			fmt.Sprintf("%s (%s)", medianDur(run.latency).Round(time.Microsecond), p99.Round(time.Microsecond)),
			fmt.Sprintf("%.2f (%d PutItem)", float64(run.dynamoRuns)/float64(run.newProofs), run.putItems))
	}
	w.p("")
}

// writeDPoPAlone writes the DPoP section of a run of that step alone
// (-only dpop) into the report file (-out), in place of the one there,
// or before "## Reproduce" when there is none.
func writeDPoPAlone(o *options, r *report) error {
	r.dpop.alone = fmt.Sprintf("This section was written by `scripts/local-servers -- go run ./scripts/benchmark -only dpop -rounds %d` on %s, alone (not in a whole `scripts/bench` run); the next `scripts/bench` writes it again.",
		o.rounds, o.startedAt.Format("2006-01-02 15:04 MST"))
	var w mdWriter
	r.writeDPoP(&w)
	path := o.path(o.out)
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc := string(old)
	const heading = "## DPoP at the resource"
	if i := strings.Index(doc, heading); i >= 0 {
		end := strings.Index(doc[i+len(heading):], "\n## ")
		if end < 0 {
			return fmt.Errorf("%s: the DPoP section has no next section", path)
		}
		doc = doc[:i] + w.String() + doc[i+len(heading)+end+1:]
	} else if i := strings.Index(doc, "## Reproduce"); i >= 0 {
		doc = doc[:i] + w.String() + doc[i:]
	} else {
		return fmt.Errorf("%s: no \"## Reproduce\" section to write before", path)
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}
