package main

import (
	"fmt"
	"strings"

	"github.com/authkit/lambda-auth/scripts/localapi"
)

// An initNeed is an AWS call a function's init may make, and why it cannot
// be avoided or deferred to a request: a function needs it when the
// environment template.yaml gives it says so (needs). Every call an init
// makes that no need of that function covers, or beyond a need's count,
// is avoidable, and the report says so: the verdict is computed from the
// calls measured, never written by hand.
type initNeed struct {
	call  string // "KMS.GetPublicKey": the unit BenchmarkWire reports, without "/op"
	max   int    // at most this many per init; 0: as many as the load takes
	when  string // the configuration that needs it, as the report shows it
	why   string
	needs func(env map[string]string) bool
}

var initNeeds = []initNeed{
	{call: "KMS.GetPublicKey", max: 1, when: "`SIGNING_KEY_ID`",
		why:   "the public key of the signing key (the benchmark configures one): its algorithm and RFC 7638 `kid` name every token signed and select the key every token is verified with, fetched once per container instead of per request",
		needs: func(env map[string]string) bool { return env["SIGNING_KEY_ID"] != "" }},
	{call: "KMS.GenerateMac", max: 1, when: "`MAC_KEY_ID`",
		why:   "derives the keyed-hash secret (refresh token successors, login throttle keys) once per container instead of one KMS call per login or refresh",
		needs: func(env map[string]string) bool { return env["MAC_KEY_ID"] != "" }},
}

// replicaLoad are the reads of the revocation replica's cold load: the
// snapshot's pointer (GetItem) and parts (BatchGetItem), then the feed
// since its watermark (one Query per bucket and shard). Made at init so
// that the first request decides from a loaded view; deferred, the same
// reads would delay that request.
func init() {
	for _, call := range []string{"DynamoDB.GetItem", "DynamoDB.BatchGetItem", "DynamoDB.Query"} {
		initNeeds = append(initNeeds, initNeed{call: call, when: "`REVOCATION_MODE=replica`",
			why:   "the revocation replica's cold load (snapshot pointer and parts, the feed since its watermark), so that the first request decides from a loaded view instead of waiting for it",
			needs: func(env map[string]string) bool { return env["REVOCATION_MODE"] == "replica" }})
	}
}

// initCheck is the judgement of one function's init.
type initCheck struct {
	function  string
	measured  bool
	calls     string   // callList of what it made
	reasons   []string // the needs its calls meet, by call
	avoidable []string // calls no need covers, with why
}

// judgeInit judges the init of every function (folders of functions/) from
// the calls BenchmarkWire counted ("Wire/<function>") and the environment
// template.yaml gives each one (env, by folder).
func judgeInit(functions []string, wire map[string]sample, env map[string]map[string]string) []initCheck {
	var out []initCheck
	for _, fn := range functions {
		c := initCheck{function: fn}
		s, ok := wire["Wire/"+fn]
		if !ok {
			out = append(out, c)
			continue
		}
		c.measured, c.calls = true, callList(s)
		for _, unit := range sortedKeys(s) {
			call, ok := strings.CutSuffix(unit, "/op")
			if !ok || s[unit] == 0 || !(strings.HasPrefix(call, "KMS.") || strings.HasPrefix(call, "DynamoDB.")) {
				continue
			}
			n := s[unit]
			var need *initNeed
			for i := range initNeeds {
				if initNeeds[i].call == call && initNeeds[i].needs(env[fn]) {
					need = &initNeeds[i]
				}
			}
			switch {
			case need == nil:
				c.avoidable = append(c.avoidable, fmt.Sprintf("%s×%s (nothing in its configuration needs it)", call, trimNum(n)))
			case need.max > 0 && n > float64(need.max):
				c.avoidable = append(c.avoidable, fmt.Sprintf("%s×%s (%d needed)", call, trimNum(n-float64(need.max)), need.max))
			default:
				c.reasons = append(c.reasons, call)
			}
		}
		out = append(out, c)
	}
	return out
}

// initVerdict is the goal row's verdict: met only when every function was
// measured and none made an avoidable call.
func initVerdict(checks []initCheck) string {
	var missing, avoidable []string
	for _, c := range checks {
		if !c.measured {
			missing = append(missing, c.function)
		}
		for _, a := range c.avoidable {
			avoidable = append(avoidable, c.function+" "+a)
		}
	}
	if len(checks) == 0 {
		return "**not met**: no function measured"
	}
	var why []string
	if len(avoidable) > 0 {
		why = append(why, "avoidable: "+strings.Join(avoidable, "; "))
	}
	if len(missing) > 0 {
		why = append(why, "not measured: "+strings.Join(missing, ", "))
	}
	if len(why) > 0 {
		return "**not met**: " + strings.Join(why, "; ")
	}
	return fmt.Sprintf("**met**: every call of the %d functions has its reason (Cold start)", len(checks))
}

// templateEnv is the environment template.yaml gives each function, by
// folder, resolved with placeholder keys and table names: what the
// function is configured to do, which decides what its init needs.
func templateEnv(root string, functions []string) (map[string]map[string]string, error) {
	tpl, err := localapi.Load(root)
	if err != nil {
		return nil, fmt.Errorf("read template.yaml: %w", err)
	}
	s := &benchStack{tpl: tpl, keyARN: "arn:aws:kms:us-east-1:000000000000:key/sign",
		macARN: "arn:aws:kms:us-east-1:000000000000:key/mac", names: map[string]string{}}
	for id := range tpl.Tables {
		s.names[id] = id
	}
	folders := map[string]bool{}
	for _, f := range tpl.Functions {
		folders[f.Folder] = true
	}
	out := map[string]map[string]string{}
	for _, fn := range functions {
		if !folders[fn] {
			return nil, fmt.Errorf("functions/%s is not in template.yaml", fn)
		}
		vars := map[string]string{}
		for _, kv := range s.env(fn) {
			k, v, _ := strings.Cut(kv, "=")
			vars[k] = v
		}
		out[fn] = vars
	}
	return out, nil
}

// initNeedWho names the functions a need applies to.
func initNeedWho(n initNeed, functions []string, env map[string]map[string]string) string {
	var who []string
	for _, fn := range functions {
		if n.needs(env[fn]) {
			who = append(who, fn)
		}
	}
	if len(who) == 0 {
		return "none"
	}
	return strings.Join(who, ", ")
}
