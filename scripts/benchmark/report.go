package main

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

type report struct {
	opts     *options
	machine  machine
	duration time.Duration
	cpu      cpuResult
	services serviceResult
	e2e      e2eResult
	cold     coldResult
	zips     zipResult
	peers    peerResult
	replica  replicaResult
	writers  writersResult
	fleet    []byte // the fleet simulation's section (scripts/fleetsim/fleet)
	coldLoad coldLoadResult
	dpop     dpopResult
	signIn   signInResult
}

const (
	ratioGoal = 1.15
	zipGoal   = 4 << 20
)

type mdWriter struct{ bytes.Buffer }

func (w *mdWriter) p(format string, args ...any) { fmt.Fprintf(&w.Buffer, format+"\n", args...) }

func (w *mdWriter) row(cells ...string) { w.p("| %s |", strings.Join(cells, " | ")) }

func (w *mdWriter) header(cells ...string) {
	w.row(cells...)
	seps := make([]string, len(cells))
	for i := range seps {
		seps[i] = "---"
	}
	w.row(seps...)
}

func (w *mdWriter) code(cmd string) { w.p("```sh\n%s\n```", cmd) }

func f0(v float64) string  { return fmt.Sprintf("%.0f", v) }
func f2(v float64) string  { return fmt.Sprintf("%.2f", v) }
func f3(v float64) string  { return fmt.Sprintf("%.3f", v) }
func us(ns float64) string { return fmt.Sprintf("%.1f µs", ns/1e3) }
func ms(v float64) string  { return fmt.Sprintf("%.2f ms", v) }
func mib(b int64) string   { return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20)) }

func yesNo(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

// ratioStats is the median of same-round ratios with their range.
type ratioStats struct{ med, lo, hi float64 }

func (r ratioStats) String() string {
	return fmt.Sprintf("%.3f (%.3f–%.3f)", r.med, r.lo, r.hi)
}

func sameRound(a, b []sample, unit string) ratioStats {
	rs := ratios(values(a, unit), values(b, unit))
	lo, hi := minMax(rs)
	return ratioStats{median(rs), lo, hi}
}

func (r *report) markdown() []byte {
	o := r.opts
	var w mdWriter
	w.p("# Benchmarks")
	w.p("")
	w.p("Written by `%s` on %s in %s, from its own measurements in that run: do not edit, run it again.",
		o.benchScript, o.startedAt.Format("2006-01-02 15:04 MST"), r.duration.Round(time.Second))
	w.p("Every time is a median; every ratio is measured in the same run (same rounds, benchmarks interleaved), because absolute times depend on the machine and on whatever else runs on it, and ratios much less.")
	w.p("")
	w.p("## Machine")
	w.p("")
	w.header("", "")
	w.row("kernel", r.machine.uname)
	w.row("CPU", fmt.Sprintf("%s, %d cores", r.machine.cpu, r.machine.cores))
	w.row("Go", r.machine.goVersion)
	w.row("load average (1, 5, 15 min)", fmt.Sprintf("%s before, %s after", r.machine.loadBefore, r.machine.loadAfter))
	w.p("")
	w.p("A load average above the number of cores means other work shared the CPU during the run: the wall-clock times (ns/op) are then inflated, the CPU times (cpu-ns/op, this process's user and system time per operation) much less, and the instruction counts (callgrind) not at all.")
	w.p("")
	r.writeGoals(&w)
	r.writeCPU(&w)
	r.writeThroughput(&w)
	r.writeServices(&w)
	r.writeSignIn(&w)
	r.writeEndToEnd(&w)
	r.writeReplica(&w)
	r.writeColdLoad(&w)
	r.writeDPoP(&w)
	r.writeWriters(&w)
	r.writeCold(&w)
	r.writeZips(&w)
	r.writeCost(&w)
	r.writeOtherDesign(&w)
	w.Write(r.fleet)
	w.p("")
	w.p("## Reproduce")
	w.p("")
	w.p("Everything above, after the setup in README.md (scripts/README.md, Benchmarks):")
	w.p("")
	w.code(o.benchScript)
	w.p("Options (`scripts/bench -h`): `--rounds N`, `--requests N`, `--cold-runs N`, `--via rie` (the authorizer alone under aws-lambda-rie instead of `GET /me` through `scripts/dev`), `--no-callgrind`.")
	return w.Bytes()
}

// ratiosOf are the same-round wall and CPU ratios of an algorithm's warm
// path to its floor.
func (r *report) ratiosOf(a algBench) (wall, cpu ratioStats) {
	s := r.cpu.samples
	return sameRound(s[a.subject], s[a.floor], "ns/op"), sameRound(s[a.subject], s[a.floor], "cpu-ns/op")
}

func (r *report) writeGoals(w *mdWriter) {
	w.p("## Goals")
	w.p("")
	w.header("goal", "measured", "")
	for _, a := range algBenches {
		wall, cpu := r.ratiosOf(a)
		instr, instrRatio := "not counted", math.NaN()
		if n, m := r.cpu.instr[a.subject], r.cpu.instr[a.floor]; n > 0 && m > 0 {
			instrRatio = n / m
			instr = f3(instrRatio)
		}
		verdict := yesNo(wall.med <= ratioGoal)
		if wall.med > ratioGoal && cpu.med <= ratioGoal && !(instrRatio > ratioGoal) {
			verdict = "**not met on wall time**; met on CPU time" + map[bool]string{true: " and instructions", false: ""}[instrRatio <= ratioGoal]
		}
		w.row(fmt.Sprintf("authorizer warm path ≤ %.2f × the bare %s check", ratioGoal, a.alg),
			fmt.Sprintf("%s (wall), %s (CPU), %s (instructions)", f3(wall.med), f3(cpu.med), instr), verdict)
		sa, sg := r.cpu.samples[a.subject], r.cpu.samples[a.golangJWT]
		allocs, jwtAllocs := median(values(sa, "allocs/op")), median(values(sg, "allocs/op"))
		w.row(fmt.Sprintf("fewer allocations than golang-jwt's Parse (%s)", a.alg),
			fmt.Sprintf("%s vs %s allocs/op", f0(allocs), f0(jwtAllocs)), yesNo(allocs < jwtAllocs))
	}
	r.replicaGoals(w)
	var largest string
	var size int64
	for n, z := range r.zips.zipped {
		if z > size {
			largest, size = n, z
		}
	}
	w.row("every zip under 4 MiB", fmt.Sprintf("largest: %s, %s", largest, mib(size)), yesNo(size < zipGoal))
	checks := judgeInit(r.services.functions, r.services.wire, r.services.initEnv)
	var calls []string
	measured := 0
	for _, c := range checks {
		if c.measured {
			measured++
			if c.calls != "none" {
				calls = append(calls, c.function+" "+c.calls)
			}
		}
	}
	w.row("init makes no call that could be deferred or avoided",
		fmt.Sprintf("%d of %d functions measured; calls: %s; the others none", measured, len(checks), strings.Join(calls, "; ")),
		initVerdict(checks))
	w.p("")
	w.p("The ratio goal is read on wall time, as the issue states it. When the machine was shared (see the load average), the CPU-time and instruction ratios are the steadier readings of the same quantity; the verdict says which of them meet it.")
	w.p("")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// callList is the AWS calls per operation of a sample, by API.
func callList(s sample) string {
	var parts []string
	for _, unit := range sortedKeys((s)) {
		if strings.HasSuffix(unit, "/op") && (strings.HasPrefix(unit, "KMS.") || strings.HasPrefix(unit, "DynamoDB.")) {
			parts = append(parts, fmt.Sprintf("%s×%s", strings.TrimSuffix(unit, "/op"), trimNum(s[unit])))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func trimNum(v float64) string {
	if v == math.Trunc(v) {
		return f0(v)
	}
	return f2(v)
}

func (r *report) writeCPU(w *mdWriter) {
	w.p("## Authorizer CPU: the warm path against one signature check")
	w.p("")
	w.p("The authorizer function's whole warm request as the Lambda runtime calls it (`AuthorizerHandler.Invoke`): the payload 2.0 event from `events/authorizer.json` in, the simple response's JSON out, with every check of the token (header, `typ`, `kid` and `alg`, signature, low S, claims, `iss`/`aud`/`exp`/`iat`/`nbf`, required claims) and the revocation lookup answered in process (a map standing for the revocation store; the end-to-end section measures the authorizer with its store as deployed). The floor is the bare primitive over the same signing input: %s for ES256, %s for RS256. golang-jwt's `Parse` of the same token (signature and its default claim checks only) is the allocation yardstick.",
		"`"+algBenches[0].floorDesc+"`", "`"+algBenches[1].floorDesc+"`")
	w.p("")
	w.code(r.cpu.benchCmd)
	w.p("%d rounds, one process per benchmark per round, order alternating between rounds, 1 s each.", r.opts.rounds)
	w.p("")
	w.header("", "ES256", "RS256")
	cell := func(f func(a algBench) string) []string {
		var c []string
		for _, a := range algBenches {
			c = append(c, f(a))
		}
		return c
	}
	med := func(name, unit string) float64 { return median(values(r.cpu.samples[name], unit)) }
	w.row(append([]string{"authorizer warm path, wall"}, cell(func(a algBench) string { return us(med(a.subject, "ns/op")) })...)...)
	w.row(append([]string{"floor, wall"}, cell(func(a algBench) string { return us(med(a.floor, "ns/op")) })...)...)
	w.row(append([]string{"**ratio, wall** (median of same-round ratios, range)"}, cell(func(a algBench) string {
		return "**" + sameRound(r.cpu.samples[a.subject], r.cpu.samples[a.floor], "ns/op").String() + "**"
	})...)...)
	w.row(append([]string{"authorizer warm path, CPU"}, cell(func(a algBench) string { return us(med(a.subject, "cpu-ns/op")) })...)...)
	w.row(append([]string{"floor, CPU"}, cell(func(a algBench) string { return us(med(a.floor, "cpu-ns/op")) })...)...)
	w.row(append([]string{"**ratio, CPU**"}, cell(func(a algBench) string {
		return "**" + sameRound(r.cpu.samples[a.subject], r.cpu.samples[a.floor], "cpu-ns/op").String() + "**"
	})...)...)
	if len(r.cpu.instr) > 0 {
		w.row(append([]string{"instructions per operation, authorizer / floor"}, cell(func(a algBench) string {
			return fmt.Sprintf("%.0f k / %.0f k", r.cpu.instr[a.subject]/1e3, r.cpu.instr[a.floor]/1e3)
		})...)...)
		w.row(append([]string{"**ratio, instructions**"}, cell(func(a algBench) string {
			return "**" + f3(r.cpu.instr[a.subject]/r.cpu.instr[a.floor]) + "**"
		})...)...)
	}
	w.row(append([]string{"golang-jwt Parse, wall / CPU"}, cell(func(a algBench) string {
		return us(med(a.golangJWT, "ns/op")) + " / " + us(med(a.golangJWT, "cpu-ns/op"))
	})...)...)
	w.row(append([]string{"allocs/op: authorizer / floor / golang-jwt Parse"}, cell(func(a algBench) string {
		return fmt.Sprintf("%s / %s / %s", f0(med(a.subject, "allocs/op")), f0(med(a.floor, "allocs/op")), f0(med(a.golangJWT, "allocs/op")))
	})...)...)
	w.row(append([]string{"B/op: authorizer / floor / golang-jwt Parse"}, cell(func(a algBench) string {
		return fmt.Sprintf("%s / %s / %s", f0(med(a.subject, "B/op")), f0(med(a.floor, "B/op")), f0(med(a.golangJWT, "B/op")))
	})...)...)
	w.p("")
	if len(r.cpu.instr) > 0 {
		w.p("Instructions are counted by callgrind inside the one function each benchmark loop calls per operation (setup and warm-up left out):")
		w.p("")
		w.code(r.cpu.instrCmd)
	} else {
		w.p("Instruction counts: %s.", r.cpu.instrNote)
		w.p("")
	}
	w.p("The floor allocates too (crypto/ecdsa and crypto/rsa convert the public key on every call); the authorizer's allocations beyond it are the token copy, the payload string and one block for the claims, the identity context map of the response, the revocation lookup's timeout context and the response bytes.")
	w.p("")
}

func (r *report) writeThroughput(w *mdWriter) {
	w.p("## Throughput")
	w.p("")
	w.header("", "ES256", "RS256", "from")
	var cells []string
	for _, a := range algBenches {
		cpu := median(values(r.cpu.samples[a.subject], "cpu-ns/op"))
		cells = append(cells, fmt.Sprintf("%.0f /s", 1e9/cpu))
	}
	w.row(append(append([]string{"authorizations per second per core, warm path, CPU only"}, cells...), "1 s / the CPU time per authorization above")...)
	signs := median(values(r.services.samples["Login"], "KMS.Sign/op"))
	rsigns := median(values(r.services.samples["Refresh"], "KMS.Sign/op"))
	authzKMS := 0.0
	for _, name := range []string{"Authorize", "AuthorizeStrict"} {
		authzKMS = max(authzKMS, median(values(r.services.samples[name], "kms-calls/op")))
	}
	authz := "the authorizer made no KMS call per request (counted in both revocation modes, below), so it does not count against it"
	if authzKMS > 0 {
		authz = fmt.Sprintf("the authorizer made %s KMS calls per request (counted, below), which count against it too", trimNum(authzKMS))
	}
	w.p("")
	w.p("KMS: a login makes %s KMS Sign call and a refresh %s (counted by the SDK middleware, below), so **1,000 logins and refreshes per second need %.0f Sign calls per second**, against a default quota of about %d per second per account and region (the issue's figure: ECC and RSA keys have separate shared quotas, see the KMS request quotas page linked in the cost model). That quota, shared with anything else in the account that signs, caps logins plus refreshes per second; %s.",
		trimNum(signs), trimNum(rsigns), 1000*(signs+rsigns)/2, kmsSignQuota, authz)
	w.p("")
}

func (r *report) writeServices(w *mdWriter) {
	s := r.services.samples
	w.p("## Login, refresh and the round trips they are made of")
	w.p("")
	w.p("Login and refresh as their functions wire them (argon2id at m=19 MiB, t=2, p=1 for login), against local KMS (local-kms) and local DynamoDB (AWS's DynamoDB Local 1.25.1) on this machine, next to the round trips they consist of, in the same run. The AWS calls are counted by the SDK middleware (every attempt on the wire).")
	w.p("")
	w.code(r.services.cmd)
	w.header("operation", "wall", "CPU of this process", "× KMS Sign round trip", "AWS calls per operation")
	for _, op := range []struct{ name, label string }{
		{"Login", "login"}, {"Refresh", "refresh"}, {"Authorize", "authorizer request, replica mode (the default; feed synced with local DynamoDB)"},
		{"AuthorizeStrict", "authorizer request, strict mode (its revocation lookup on local DynamoDB)"},
		{"KMSSign", "KMS Sign (ECDSA P-256, digest)"}, {"DynamoDBGetItem", "DynamoDB GetItem, consistent"},
		{"RevocationLookup", "revocation lookup: BatchGetItem of 3 keys, consistent"},
	} {
		wall := median(values(s[op.name], "ns/op"))
		cpu := "–"
		if v := values(s[op.name], "cpu-ns/op"); v[0] > 0 {
			cpu = ms(median(v) / 1e6)
		}
		calls := "–"
		if _, ok := s[op.name][0]["ddb-calls/op"]; ok {
			calls = callList(s[op.name][0])
		}
		w.row(op.label, ms(wall/1e6), cpu, f2(median(ratios(values(s[op.name], "ns/op"), values(s["KMSSign"], "ns/op")))), calls)
	}
	w.p("")
	w.p("The local KMS signs in software and the local DynamoDB is an emulator: on AWS both round trips are network calls of a few milliseconds, not measured here. The login time is mostly argon2id, which is CPU work and scales with the function's CPU share (see the cost model).")
	w.p("")
}

func (r *report) writeEndToEnd(w *mdWriter) {
	e := r.e2e
	w.p("## Authorizer end to end")
	w.p("")
	w.p("Through %s, with the real local DynamoDB, the authorizer in %s mode (`REVOCATION_MODE=%s`, %s): %d requests per series after %d warm-up rounds, the series interleaved request by request (the order rotating), one request at a time.", e.via, e.mode, e.mode, modeNote(e.mode), len(e.series[e.order[0]]), e.warmups)
	w.p("")
	w.code(e.cmd)
	w.header("series", "median", "p99", "median ÷ GetItem median", "p99 ÷ GetItem p99")
	floorMed, floorP99 := median(e.series[e.floor]), percentile(e.series[e.floor], 99)
	for _, name := range e.order {
		v := e.series[name]
		w.row(name, ms(median(v)), ms(percentile(v, 99)), f2(median(v)/floorMed), f2(percentile(v, 99)/floorP99))
	}
	w.p("")
	hop := median(e.series[e.hop])
	lookup := revocationLookup(e.mode)
	if e.via == "aws-lambda-rie" {
		w.p("The authorizer series includes the emulator's own hop (an HTTP request to it, the runtime API exchange with the bootstrap), which the `%s` series measures alone; without it the authorizer adds **%s** (median) to the bare GetItem's %s: the token check and %s. The distribution:", e.hop, ms(median(e.series[e.order[0]])-hop-floorMed), ms(floorMed), lookup)
	} else {
		w.p("`GET /me` makes two function invocations through the gateway (the authorizer, then the me function); `%s` makes one (no authorizer). Their difference, **%s** (median), is what the authorizer adds to a request here: one invocation under the emulator, the token check and %s; a bare GetItem on the same local DynamoDB takes %s. The distribution:", e.hop, ms(median(e.series[e.order[0]])-hop), lookup, ms(floorMed))
	}
	w.p("")
	w.p("![authorizer latency distribution](%s)", filepath.ToSlash(r.opts.plot))
	w.p("")
}

func (r *report) writeCold(w *mdWriter) {
	c := r.cold
	w.p("## Cold start")
	w.p("")
	w.p("Ready means the function's init is over (configuration read, AWS clients built, public keys fetched, for login the dummy argon2id hash computed) and the Lambda runtime library asks for the first event (`GET /2018-06-01/runtime/invocation/next`). Measured from the exec of each `bootstrap` (built as SAM builds it, for this machine) to that request, against a minimal runtime API served by the benchmark itself, with the environment pointed at local KMS and DynamoDB and no `AWS_CA_BUNDLE` (Lambda has none). %d runs per function, the functions interleaved.", r.opts.coldRuns)
	w.p("")
	w.code(c.cmd)
	checks := map[string]initCheck{}
	for _, ch := range judgeInit(r.services.functions, r.services.wire, r.services.initEnv) {
		checks[ch.function] = ch
	}
	w.header("function", "ready: median", "p90", "AWS calls at init", "avoidable")
	for _, name := range sortedKeys((c.ready)) {
		v := c.ready[name]
		ch, ok := checks[name]
		calls, avoidable := "not measured", "not measured"
		if ok && ch.measured {
			calls, avoidable = ch.calls, "none"
			if len(ch.avoidable) > 0 {
				avoidable = "**" + strings.Join(ch.avoidable, "; ") + "**"
			}
		}
		w.row(name, ms(median(v)), ms(percentile(v, 90)), calls, avoidable)
	}
	w.p("")
	w.p("The authorizer's first invocation after that (its event in, its response out, the first DynamoDB connection included): median %s, p90 %s.", ms(median(c.firstInvoke)), ms(percentile(c.firstInvoke, 90)))
	w.p("")
	w.p("The calls at init are counted by wiring each function in process with the SDK counting middleware:")
	w.p("")
	w.code(r.services.wireCmd)
	w.p("A call at init is avoidable unless what template.yaml configures the function with needs it (`scripts/benchmark/initcalls.go`):")
	w.p("")
	w.header("call", "needed when configured with", "so by", "at most", "why")
	for _, n := range initNeeds {
		most := "as the load takes"
		if n.max > 0 {
			most = fmt.Sprint(n.max)
		}
		w.row(n.call, n.when, initNeedWho(n, r.services.functions, r.services.initEnv), most, n.why)
	}
	w.p("")
	w.p("Login's extra init time is the dummy argon2id hash, computed at init on purpose: computing it on the first unknown-user login would make that login measurably slower than a wrong password.")
	w.p("")
}

func (r *report) writeZips(w *mdWriter) {
	z := r.zips
	w.p("## Deployment zips")
	w.p("")
	w.p("Every function built for linux/arm64 as `sam build` builds it through infra/Makefile, its `bootstrap` zipped with deflate at the default level as SAM packages it:")
	w.p("")
	w.code(z.build + "\n" + z.cmd)
	w.header("function", "bootstrap", "zip", "under 4 MiB")
	for _, name := range z.names {
		w.row(name, mib(z.binary[name]), mib(z.zipped[name]), yesNo(z.zipped[name] < zipGoal))
	}
	w.p("")
}

func (r *report) writeOtherDesign(w *mdWriter) {
	w.p("## The design this replaces: Node.js `jsonwebtoken` and a Redis GET")
	w.p("")
	w.p("Not measured. A fair comparison needs what decides that design's cost and latency on AWS: an ElastiCache node (or ElastiCache Serverless) billed by the hour whatever the traffic, reached over the VPC network, and a Node.js Lambda's CPU share at the same memory size. None of that exists on this machine: a Redis GET over loopback against the DynamoDB emulator would compare two local stand-ins, not the two designs, and the verification CPU alone (`jsonwebtoken` on OpenSSL against Go) is a fraction of a millisecond either way, below Lambda's 1 ms billing unit. The per-request part of that design is the same as here without the DynamoDB read (Lambda request and duration, API Gateway); its fixed part is the cache cluster.")
	w.p("")
}

// revocationLookup says what the authorizer's revocation check costs a
// request in the mode measured: in replica mode no DynamoDB call per
// request (the replica syncs at most once per REVOCATION_SYNC), in strict
// mode a BatchGetItem on DynamoDB.
func revocationLookup(mode string) string {
	switch mode {
	case "replica":
		return "its revocation check in the in-memory replica of the revocation feed (no DynamoDB call for the request; the replica's sync, one `Query` of local DynamoDB at most once a second, falls on about one request a second)"
	case "strict":
		return "its revocation lookup on local DynamoDB (one consistent `BatchGetItem` per request)"
	}
	return fmt.Sprintf("its revocation check in an unknown mode (%q)", mode)
}

// modeNote is what the mode means for a request.
func modeNote(mode string) string {
	switch mode {
	case "replica":
		return "the default: revocations from an in-memory replica of the feed"
	case "strict":
		return "a table read per request"
	}
	return "not a mode the authorizer knows"
}
