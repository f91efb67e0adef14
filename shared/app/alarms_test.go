package app_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/metrics"
)

// wantAlarms are the alarms issue 14 asks for, by logical id.
var wantAlarms = []string{
	"RefreshTokenReuseAlarm",     // any refresh-token reuse detection
	"LoginLockoutSpikeAlarm",     // a spike of lockouts
	"AuthorizerUnavailableAlarm", // authorizer denials for unavailable (and a stale replica)
	"ReplicaAgeAlarm",            // a replica whose syncs keep failing
	"AuthRoutes5xxAlarm",         // 5xx on the auth routes
	"KmsThrottledAlarm",          // KMS throttling
	"KmsSignNearQuotaAlarm",      // near the Sign quota
	"FunctionErrorsAlarm",        // function errors
	"FunctionThrottlesAlarm",     // function throttles
	"EndpointErrorsAlarm",        // function errors, the standard endpoints
	"EndpointThrottlesAlarm",     // function throttles, the standard endpoints
}

// TestAlarmsWatchWhatTheCodeWrites: every alarm of template.yaml says why
// it exists and where infra/OPERATIONS.md tells what to do, notifies AlarmTopicArn only
// when one is given, treats missing data as fine (these metrics are
// written only when something happens), and every metric it or the
// dashboard reads in the service's namespace is one the code writes, with
// a dimension set it writes and dimension values it can write.
func TestAlarmsWatchWhatTheCodeWrites(t *testing.T) {
	root := testenv.RepoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	opsDoc, err := os.ReadFile(filepath.Join(root, "infra", "OPERATIONS.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, ops, _ := strings.Cut(string(opsDoc), "\n## Alarms\n")
	ops, _, _ = strings.Cut(ops, "\n## ")
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	resources := get(doc.Content[0], "Resources")
	var alarms []string
	for i := 0; i+1 < len(resources.Content); i += 2 {
		id, r := resources.Content[i].Value, resources.Content[i+1]
		if get(r, "Type").Value != "AWS::CloudWatch::Alarm" {
			continue
		}
		alarms = append(alarms, id)
		props := get(r, "Properties")
		t.Run(id, func(t *testing.T) {
			if d := get(props, "AlarmDescription"); d == nil || !strings.Contains(d.Value, "infra/OPERATIONS.md, Alarms, "+id) {
				t.Errorf("AlarmDescription must say why and point to infra/OPERATIONS.md, Alarms, %s", id)
			}
			if !strings.Contains(ops, "`"+id+"`") {
				t.Errorf("infra/OPERATIONS.md's Alarms section does not say what %s means and what to do", id)
			}
			for _, key := range []string{"AlarmActions", "OKActions"} {
				a := get(props, key)
				if a == nil || a.Tag != "!If" || a.Content[0].Value != "HasAlarmTopic" || a.Content[2].Value != "AWS::NoValue" {
					t.Errorf("%s must be !If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref AWS::NoValue]", key)
				}
			}
			if m := get(props, "TreatMissingData"); m == nil || m.Value != "notBreaching" {
				t.Errorf("TreatMissingData must be notBreaching: the metrics exist only when something happens")
			}
			stats := []*yaml.Node{props}
			for _, q := range list(get(props, "Metrics")) {
				if ms := get(q, "MetricStat"); ms != nil {
					stats = append(stats, get(ms, "Metric"))
				}
			}
			for _, m := range stats {
				if ns := get(m, "Namespace"); ns != nil && ns.Value == metrics.Namespace {
					dims := map[string]string{}
					for _, d := range list(get(m, "Dimensions")) {
						dims[get(d, "Name").Value] = get(d, "Value").Value
					}
					checkMetric(t, get(m, "MetricName").Value, dims)
				}
			}
		})
	}
	for _, want := range wantAlarms {
		if !slices.Contains(alarms, want) {
			t.Errorf("template.yaml has no %s", want)
		}
	}

	// The dashboard's series in the service's namespace.
	body := get(get(get(resources, "Dashboard"), "Properties"), "DashboardBody").Value
	for _, id := range alarms {
		if !strings.Contains(body, "${"+id+".Arn}") {
			t.Errorf("the dashboard's alarm widget does not show %s", id)
		}
	}
	named := regexp.MustCompile(`\{`+metrics.Namespace+`,[^}]*\} MetricName=\\"(\w+)\\"|"`+metrics.Namespace+`",\s*"(\w+)"`).FindAllStringSubmatch(body, -1)
	if len(named) < 6 {
		t.Fatalf("the dashboard names %d metrics of %s", len(named), metrics.Namespace)
	}
	for _, n := range named {
		name := n[1] + n[2]
		if _, ok := metrics.DimensionSets[name]; !ok {
			t.Errorf("the dashboard shows %s, which the code never writes", name)
		}
	}
}

// checkMetric: name is a metric the code writes with exactly these
// dimension names, and each value but Function's is one it writes.
func checkMetric(t *testing.T, name string, dims map[string]string) {
	t.Helper()
	sets, ok := metrics.DimensionSets[name]
	if !ok {
		t.Errorf("metric %s is never written", name)
		return
	}
	var names []string
	for d := range dims {
		names = append(names, d)
	}
	if !slices.ContainsFunc(sets, func(set []string) bool {
		return len(set) == len(names) && !slices.ContainsFunc(set, func(d string) bool { _, ok := dims[d]; return !ok })
	}) {
		t.Errorf("metric %s with dimensions %v: written with %v only", name, names, sets)
	}
	for d, v := range dims {
		if d != metrics.DimFunction && !slices.Contains(metrics.Values[d], v) {
			t.Errorf("metric %s: %s=%q is never written (values: %q)", name, d, v, metrics.Values[d])
		}
	}
}

// TestEveryFunctionIsWatched: each function of template.yaml is in exactly
// one alarm on AWS/Lambda Errors and one on Throttles, and no alarm reads
// more than the 10 metrics CloudWatch allows a metric math alarm (a hard
// limit: the stack would fail to deploy).
func TestEveryFunctionIsWatched(t *testing.T) {
	resources := templateResources(t)
	var functions []string
	watched := map[string]map[string]int{"Errors": {}, "Throttles": {}}
	for i := 0; i+1 < len(resources.Content); i += 2 {
		id, r := resources.Content[i].Value, resources.Content[i+1]
		switch get(r, "Type").Value {
		case "AWS::Serverless::Function":
			functions = append(functions, id)
		case "AWS::CloudWatch::Alarm":
			stats := 0
			for _, q := range list(get(get(r, "Properties"), "Metrics")) {
				ms := get(q, "MetricStat")
				if ms == nil {
					continue
				}
				stats++
				m := get(ms, "Metric")
				if get(m, "Namespace").Value != "AWS/Lambda" {
					continue
				}
				for _, d := range list(get(m, "Dimensions")) {
					if get(d, "Name").Value == "FunctionName" && get(d, "Value").Tag == "!Ref" {
						if w := watched[get(m, "MetricName").Value]; w != nil {
							w[get(d, "Value").Value]++
						}
					}
				}
			}
			if stats > 10 {
				t.Errorf("%s reads %d metrics; CloudWatch allows 10", id, stats)
			}
		}
	}
	if len(functions) < 11 {
		t.Fatalf("found %d functions in template.yaml", len(functions))
	}
	for _, fn := range functions {
		for metric, w := range watched {
			if w[fn] != 1 {
				t.Errorf("%s: %d alarms on its %s, want 1", fn, w[fn], metric)
			}
		}
	}
}
