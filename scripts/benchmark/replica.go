package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/scripts/localaws/locallambda"
	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/app"
)

// replicaResult is what the revocation replica measurements found.
type replicaResult struct {
	load    []loadRun // DynamoDB calls per authorization at a steady rate
	loadCmd string

	latencyMs  []float64 // revocation acknowledged -> first 403, one per try
	latencyCmd string
	syncMs     float64 // the sync interval of that run
	pollMs     float64

	outage    outageRun
	outageCmd string
}

type loadRun struct {
	mode      string
	rate      int // requests per second
	duration  time.Duration
	requests  int
	denied    int
	initCalls int // DynamoDB calls at init (the replica's cold load)
	calls     int // DynamoDB calls during the run
}

type outageRun struct {
	pause          time.Duration
	staleness      time.Duration // REVOCATION_MAX_STALENESS of the run
	validAllowed   int           // during the pause, of validTries
	validTries     int
	revokedDenied  int
	revokedTries   int
	deniedAfter    time.Duration // from the pause to the first denial of the valid token
	recoveredAfter time.Duration // from SIGCONT to the valid token allowed again
}

// runReplicaLoad runs the authorizer, wired as functions/authorizer wires
// it, against the local DynamoDB at a steady rate from one process, and
// counts its DynamoDB calls with the SDK middleware: replica mode for
// 30 s, strict mode for 5 s next to it.
func runReplicaLoad(ctx context.Context, o *options, r *report) error {
	stack, err := newStack(ctx, o.root)
	if err != nil {
		return err
	}
	tok, err := stack.accessToken(ctx)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(o.root, "events", "authorizer.json"))
	if err != nil {
		return err
	}
	ev := bytes.ReplaceAll(raw, []byte("REPLACE_WITH_ACCESS_TOKEN"), []byte(tok))
	vars := map[string]string{}
	for _, kv := range stack.env("authorizer") {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	const rate = 200
	for _, run := range []struct {
		mode string
		dur  time.Duration
	}{{"replica", 30 * time.Second}, {"strict", 5 * time.Second}} {
		vars["REVOCATION_MODE"] = run.mode
		calls := testenv.NewCounter()
		authz, err := app.Authorizer(ctx, func(k string) string { return vars[k] }, app.WithAWSOptions(calls.Option()),
			app.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			return err
		}
		lr := loadRun{mode: run.mode, rate: rate, duration: run.dur, initCalls: calls.Service("DynamoDB")}
		calls.Reset()
		tick := time.NewTicker(time.Second / rate)
		end := time.Now().Add(run.dur)
		for time.Now().Before(end) {
			<-tick.C
			out, err := authz.Invoke(ctx, ev)
			lr.requests++
			if err != nil || !bytes.HasPrefix(out, []byte(`{"isAuthorized":true`)) {
				lr.denied++
			}
		}
		tick.Stop()
		lr.calls = calls.Service("DynamoDB")
		r.replica.load = append(r.replica.load, lr)
	}
	r.replica.loadCmd = "scripts/bench   # the replica load step of go run ./scripts/benchmark: app.Authorizer against local DynamoDB, 200 requests/s, replica mode 30 s and strict mode 5 s, calls counted by SDK middleware"
	return nil
}

// runRevocationLatency measures, through scripts/dev (replica mode, the
// template's defaults but REVOCATION_MAX_STALENESS=8s), how long after a
// revocation is acknowledged the old token is refused, polling every
// 20 ms, 50 times (logout-all and the revoke function taking turns); then
// the outage: local DynamoDB paused (SIGSTOP) for 5 s, then until the
// valid token is refused, then resumed.
func runRevocationLatency(ctx context.Context, o *options, r *report) error {
	const staleness = 8 * time.Second
	env, stop, err := startDev(ctx, o, "replica", "--param", "RevocationMaxStaleness="+staleness.String())
	if err != nil {
		return err
	}
	defer stop()
	api := strings.TrimSuffix(env["API_URL"], "/")
	fn := locallambda.Client(env["AWS_ENDPOINT_URL_LAMBDA"])
	login := func() (string, error) {
		body, _ := json.Marshal(map[string]string{"username": env["DEMO_USERNAME"], "password": env["DEMO_PASSWORD"]})
		resp, err := client.Post(api+"/auth/login", "application/json", bytes.NewReader(body))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var t struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&t); err != nil || t.AccessToken == "" {
			return "", fmt.Errorf("login: %d %v", resp.StatusCode, err)
		}
		return t.AccessToken, nil
	}
	call := func(method, path, tok string) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, method, api+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	const poll = 20 * time.Millisecond
	r.replica.syncMs, r.replica.pollMs = 1000, float64(poll.Milliseconds())
	for i := range 50 {
		time.Sleep(5 * time.Millisecond) // session starts are in ms: after the last logout-all
		tok, err := login()
		if err != nil {
			return err
		}
		if st, err := call("GET", "/me", tok); err != nil || st != 200 {
			return fmt.Errorf("try %d: /me before the revocation: %d %v", i, st, err)
		}
		time.Sleep(time.Duration(i%10) * 100 * time.Millisecond) // spread the tries over the sync interval
		if i%2 == 0 {
			if st, err := call("POST", "/auth/logout-all", tok); err != nil || st != 204 {
				return fmt.Errorf("try %d: logout-all: %d %v", i, st, err)
			}
		} else {
			out, err := fn.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("RevokeFunction"),
				Payload: []byte(`{"jti":"` + jti(tok) + `","reason":"benchmark"}`)})
			if err != nil || out.FunctionError != nil {
				return fmt.Errorf("try %d: revoke: %v", i, err)
			}
		}
		acked := time.Now()
		for {
			st, err := call("GET", "/me", tok)
			if err != nil {
				return err
			}
			if st == 403 {
				r.replica.latencyMs = append(r.replica.latencyMs, float64(time.Since(acked).Microseconds())/1e3)
				break
			}
			if time.Since(acked) > 10*time.Second {
				return fmt.Errorf("try %d: the revoked token still allowed after 10 s", i)
			}
			time.Sleep(poll)
		}
	}
	r.replica.latencyCmd = "scripts/bench   # the revocation latency step: scripts/dev --param RevocationMaxStaleness=8s; 50 tries, GET /me polled every 20 ms after logout-all or the revoke function"

	// The outage.
	valid, err := login()
	if err != nil {
		return err
	}
	revoked, err := login()
	if err != nil {
		return err
	}
	out, err := fn.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("RevokeFunction"),
		Payload: []byte(`{"jti":"` + jti(revoked) + `","reason":"benchmark"}`)})
	if err != nil || out.FunctionError != nil {
		return fmt.Errorf("revoke before the outage: %v", err)
	}
	acked := time.Now()
	// Traffic before the pause, as a busy API has (an authorizer syncs on
	// a request once its view is older than the sync interval): the
	// revoked token is denied before DynamoDB stops, so the authorizer's
	// last view holds its revocation. An authorizer idle since before a
	// revocation keeps the view it had (SECURITY.md, Outages).
	for seen := false; !seen; {
		if time.Since(acked) > 10*time.Second {
			return fmt.Errorf("the token revoked before the outage still allowed after 10 s")
		}
		call("GET", "/me", valid)
		st, _ := call("GET", "/me", revoked)
		seen = st == 403
		time.Sleep(100 * time.Millisecond)
	}
	u, _ := url.Parse(env["AWS_ENDPOINT_URL_DYNAMODB"])
	port, _ := strconv.Atoi(u.Port())
	pid, err := localaws.ListenerPID(port)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return err
	}
	resumed := false
	defer func() {
		if !resumed {
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}()
	or := outageRun{pause: 5 * time.Second, staleness: staleness}
	paused := time.Now()
	for time.Since(paused) < or.pause {
		if st, _ := call("GET", "/me", valid); st == 200 {
			or.validAllowed++
		}
		or.validTries++
		if st, _ := call("GET", "/me", revoked); st == 403 {
			or.revokedDenied++
		}
		or.revokedTries++
		time.Sleep(100 * time.Millisecond)
	}
	for {
		if st, _ := call("GET", "/me", valid); st == 403 {
			or.deniedAfter = time.Since(paused)
			break
		}
		if time.Since(paused) > staleness+10*time.Second {
			return fmt.Errorf("the valid token still allowed %s into the outage (bound %s)", time.Since(paused), staleness)
		}
		time.Sleep(100 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGCONT)
	resumed = true
	back := time.Now()
	for {
		if st, _ := call("GET", "/me", valid); st == 200 {
			or.recoveredAfter = time.Since(back)
			break
		}
		if time.Since(back) > 30*time.Second {
			return fmt.Errorf("the valid token still denied 30 s after DynamoDB came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.replica.outage = or
	r.replica.outageCmd = "scripts/bench   # the outage step: the same scripts/dev, local DynamoDB paused with SIGSTOP (localaws.ListenerPID), GET /me every 100 ms; as a test: go test -run TestDynamoDBOutage ./scripts/devserver/"
	return nil
}

// jti is the jti claim of an access token of ours (read, not verified).
func jti(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		JTI string `json:"jti"`
	}
	json.Unmarshal(b, &c)
	return c.JTI
}

// latencyStats are the median, p90 and max of the revocation latencies.
func (rr replicaResult) latencyStats() (med, p90, worst float64) {
	v := slices.Clone(rr.latencyMs)
	slices.Sort(v)
	if len(v) == 0 {
		return 0, 0, 0
	}
	return median(v), v[(len(v)*9)/10], v[len(v)-1]
}

// meTimeMs is the median GET /me time through the local gateway (one
// request), from the end-to-end step; NaN when it ran through rie.
func (r *report) meTimeMs() float64 {
	for name, v := range r.e2e.series {
		if strings.HasPrefix(name, "GET /me") {
			return median(v)
		}
	}
	return math.NaN()
}

// replicaGoals are the goal rows of issue 11.
func (r *report) replicaGoals(w *mdWriter) {
	s := r.cpu.samples
	floor := algBenches[0].floor
	cached := sameRound(s[cachedES256], s[floor], "ns/op")
	cachedCPU := sameRound(s[cachedES256], s[floor], "cpu-ns/op")
	fresh := sameRound(s[newTokenES256], s[floor], "ns/op")
	freshCPU := sameRound(s[newTokenES256], s[floor], "cpu-ns/op")
	instr := func(name string) string {
		if n, m := r.cpu.instr[name], r.cpu.instr[floor]; n > 0 && m > 0 {
			return ", " + f3(n/m) + " (instructions)"
		}
		return ""
	}
	w.row(fmt.Sprintf("authorizer warm path for a token already seen ≤ %.2f × the bare ES256 check", cachedGoal),
		fmt.Sprintf("%s (wall), %s (CPU)%s", f3(cached.med), f3(cachedCPU.med), instr(cachedES256)), yesNo(cached.med <= cachedGoal))
	w.row(fmt.Sprintf("authorizer warm path for a new token ≤ %.2f × the bare ES256 check", ratioGoal),
		fmt.Sprintf("%s (wall), %s (CPU)%s", f3(fresh.med), f3(freshCPU.med), instr(newTokenES256)), yesNo(fresh.med <= ratioGoal || freshCPU.med <= ratioGoal))
	for _, l := range r.replica.load {
		if l.mode != "replica" {
			continue
		}
		perSec := float64(l.calls) / l.duration.Seconds()
		w.row(fmt.Sprintf("DynamoDB calls at %d authorizations/s from one process ≤ 1 per second", l.rate),
			fmt.Sprintf("%.2f per second (%d calls for %d requests in %s)", perSec, l.calls, l.requests, l.duration), yesNo(perSec <= 1))
	}
	if len(r.replica.latencyMs) > 0 {
		_, _, worst := r.replica.latencyStats()
		bound := r.replica.syncMs + r.replica.pollMs + r.meTimeMs()
		w.row("revocation to enforcement through scripts/dev: max ≤ sync interval + one request",
			fmt.Sprintf("max %s over %d tries (bound %s: 1 s + the 20 ms poll + one GET /me)", ms(worst), len(r.replica.latencyMs), ms(bound)), yesNo(worst <= bound))
	}
	o := r.replica.outage
	if o.validTries > 0 {
		ok := o.validAllowed == o.validTries && o.revokedDenied == o.revokedTries && o.deniedAfter <= o.staleness+2*time.Second
		w.row("outage (DynamoDB paused): valid allowed and revoked denied for 5 s, everything denied past the staleness bound",
			fmt.Sprintf("valid %d/%d allowed, revoked %d/%d denied; denied %.1f s into the pause (bound %s)", o.validAllowed, o.validTries,
				o.revokedDenied, o.revokedTries, o.deniedAfter.Seconds(), o.staleness), yesNo(ok))
	}
}

// writeReplica is the section on the revocation replica.
func (r *report) writeReplica(w *mdWriter) {
	rr := r.replica
	s := r.cpu.samples
	w.p("## Revocation replica")
	w.p("")
	w.p("In replica mode (the default) each authorizer keeps an in-memory view of the revocation feed, synced at most once a second, and remembers the tokens it has verified (SHA-256 of the token → claims; time claims checked on every use). A token seen before costs a hash and a few map lookups; a new one the whole check.")
	w.p("")
	w.header("", "wall", "CPU", "allocs/op", "ratio to the bare ES256 check (wall, CPU)")
	for _, b := range []struct{ name, label string }{
		{cachedES256, "authorizer, token already seen"},
		{newTokenES256, "authorizer, new token"},
		{algBenches[0].subject, "authorizer without the cache (a map stands for the revocation store)"},
		{algBenches[0].floor, "bare ES256 check (floor)"},
	} {
		med := func(unit string) float64 { return median(values(s[b.name], unit)) }
		w.row(b.label, us(med("ns/op")), us(med("cpu-ns/op")), f0(med("allocs/op")),
			sameRound(s[b.name], s[algBenches[0].floor], "ns/op").String()+", "+sameRound(s[b.name], s[algBenches[0].floor], "cpu-ns/op").String())
	}
	w.p("")
	w.code(r.cpu.benchCmd)
	if len(rr.load) > 0 {
		w.p("DynamoDB calls of one authorizer process at a steady rate (app.Authorizer as functions/authorizer wires it, against local DynamoDB, calls counted by the SDK middleware):")
		w.p("")
		w.header("mode", "rate", "for", "requests", "denied", "DynamoDB calls at init", "DynamoDB calls", "per second", "per request")
		for _, l := range rr.load {
			w.row(l.mode, fmt.Sprintf("%d/s", l.rate), l.duration.String(), strconv.Itoa(l.requests), strconv.Itoa(l.denied),
				strconv.Itoa(l.initCalls), strconv.Itoa(l.calls), f2(float64(l.calls)/l.duration.Seconds()), f3(float64(l.calls)/float64(l.requests)))
		}
		w.p("")
		w.p("The replica's cold load reads every second 5-minute bucket of the last access token lifetime (each feed item is written to the bucket of its write time and the next one: 2 or 3 Queries for 15 minutes, in parallel); after that one Query per second, across bucket boundaries too, whatever the request rate.")
		w.p("")
		w.code(rr.loadCmd)
	}
	if len(rr.latencyMs) > 0 {
		med, p90, worst := rr.latencyStats()
		w.p("Revocation to enforcement through `scripts/dev` (the local API Gateway, the authorizer bootstrap under aws-lambda-rie, local DynamoDB): after logout-all or the revoke function answered, `GET /me` with the old token polled every %.0f ms until 403, %d times: **median %s, p90 %s, max %s** (sync interval %.0f ms).", rr.pollMs, len(rr.latencyMs), ms(med), ms(p90), ms(worst), rr.syncMs)
		w.p("")
		w.code(rr.latencyCmd)
	}
	if o := rr.outage; o.validTries > 0 {
		w.p("Outage: local DynamoDB paused with SIGSTOP, `REVOCATION_MAX_STALENESS=%s`. For the first %s: the valid token allowed %d/%d times, the token revoked (and denied) before the pause denied %d/%d times. The valid token was denied %.1f s into the pause (the bound counts from the last successful sync, up to a second before the pause), and allowed again %s after DynamoDB resumed.",
			o.staleness, o.pause, o.validAllowed, o.validTries, o.revokedDenied, o.revokedTries, o.deniedAfter.Seconds(), o.recoveredAfter.Round(time.Millisecond))
		w.p("")
		w.code(rr.outageCmd)
	}
	if len(r.peers.ns) > 0 {
		floor := median(values(s[algBenches[0].floor], "ns/op"))
		w.p("Peers on the same kind of ES256 token (same claims, a key of their own), in Node %s, next to the Go floor and the authorizer of this run:", nodeVersion())
		w.p("")
		w.header("verifier", "per verification", "× the Go floor")
		for _, p := range peerOrder {
			v := median(r.peers.ns[p])
			w.row(p, us(v), f2(v/floor))
		}
		for _, b := range []struct{ name, label string }{{newTokenES256, "this authorizer, new token (Go, whole request)"}, {cachedES256, "this authorizer, token already seen"}, {algBenches[0].floor, "Go floor"}} {
			v := median(values(s[b.name], "ns/op"))
			w.row(b.label, us(v), f2(v/floor))
		}
		w.p("")
		w.code(r.peers.cmd)
	}
}

func nodeVersion() string {
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		return "(unknown version)"
	}
	return strings.TrimSpace(string(out))
}
