package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
)

// The rules of the CloudWatch Embedded Metric Format, read from its
// specification (CloudWatch User Guide, "Specification: Embedded metric
// format") and the CloudWatch API reference (MetricDatum, Dimension),
// written here apart from shared/metrics so that the writer is checked
// against the specification, not against itself.
const (
	emfMaxDimensionsPerSet = 30  // DimensionSet: at most 30 dimension keys
	emfMaxMetrics          = 100 // Metrics: at most 100 MetricDefinition objects
	emfMaxValues           = 100 // a metric's value array: at most 100 numbers
	emfMaxNameLen          = 255 // Namespace, metric and dimension names
	emfMaxDimValueLen      = 1024
)

// emfUnits are the units CloudWatch accepts (MetricDatum.Unit).
var emfUnits = []string{
	"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
	"Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
	"Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
	"Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
	"Count/Second", "None",
}

// EMFLine is one metric line, parsed and checked.
type EMFLine struct {
	Raw        string
	Namespace  string
	Metrics    map[string][]float64 // metric name -> its values
	Dimensions map[string]string    // dimension name -> value (every dimension of the directives)
	Sets       [][]string           // the dimension sets, as written
}

// identifierLike is what an identifier or a secret looks like in a
// dimension value: long runs of base64url or hex (tokens, refresh
// tokens, session ids, jti, hashes), a UUID, an e-mail address, a JWT.
var identifierLike = regexp.MustCompile(`[A-Za-z0-9_-]{20,}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-|@|eyJ`)

// ParseEMF checks one log line against the EMF rules and returns it
// parsed. The rules: a single JSON object; an "_aws" member with a
// numeric Timestamp (whole epoch milliseconds) and a
// non-empty CloudWatchMetrics array of directives, each with exactly
// Namespace (1-255 characters, not AWS/), Dimensions (arrays of at most
// 30 names, each a root member whose value is a non-empty ASCII string of
// at most 1024 characters) and Metrics (1 to 100 definitions of exactly
// Name and an optional Unit from CloudWatch's set, each a root member
// whose value is a number or an array of at most 100 numbers); no member
// of the objects the specification defines beyond those it names. Past
// the specification, it refuses what this project never puts in a line:
// a root member that is neither a dimension nor a metric of a directive
// nor "level" (so no property can carry an id), and a dimension value
// that looks like an identifier or a secret.
func ParseEMF(line string) (*EMFLine, error) {
	var root map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value on the line")
	}
	var meta map[string]json.RawMessage
	if err := strictObject(root["_aws"], &meta, "Timestamp", "CloudWatchMetrics"); err != nil {
		return nil, fmt.Errorf("_aws: %v", err)
	}
	var ts json.Number
	if raw := meta["Timestamp"]; len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &ts) != nil {
		return nil, fmt.Errorf("_aws.Timestamp is not a number: %s", meta["Timestamp"])
	}
	ms, err := ts.Int64()
	if err != nil {
		return nil, fmt.Errorf("_aws.Timestamp %s is not whole milliseconds", ts)
	}
	// Milliseconds, not seconds or nanoseconds: a date of this century.
	// (CloudWatch takes metrics up to two weeks old and two hours ahead;
	// tests move their clocks, so the check stops at the unit.)
	if at := time.UnixMilli(ms); at.Year() < 2020 || at.Year() > 2100 {
		return nil, fmt.Errorf("_aws.Timestamp %d (%s) is not epoch milliseconds", ms, at.UTC())
	}
	var directives []json.RawMessage
	if err := json.Unmarshal(meta["CloudWatchMetrics"], &directives); err != nil || len(directives) == 0 {
		return nil, fmt.Errorf("_aws.CloudWatchMetrics is not a non-empty array")
	}
	out := &EMFLine{Raw: line, Metrics: map[string][]float64{}, Dimensions: map[string]string{}}
	named := map[string]bool{"_aws": true, "level": true}
	for i, raw := range directives {
		var d map[string]json.RawMessage
		if err := strictObject(raw, &d, "Namespace", "Dimensions", "Metrics"); err != nil {
			return nil, fmt.Errorf("directive %d: %v", i, err)
		}
		var ns string
		if err := json.Unmarshal(d["Namespace"], &ns); err != nil || ns == "" || len(ns) > emfMaxNameLen ||
			strings.HasPrefix(ns, "AWS/") || strings.HasPrefix(ns, ":") {
			return nil, fmt.Errorf("directive %d: Namespace %s", i, d["Namespace"])
		}
		if out.Namespace != "" && ns != out.Namespace {
			return nil, fmt.Errorf("two namespaces on one line: %s and %s", out.Namespace, ns)
		}
		out.Namespace = ns
		var sets [][]string
		if err := json.Unmarshal(d["Dimensions"], &sets); err != nil {
			return nil, fmt.Errorf("directive %d: Dimensions is not an array of arrays of strings", i)
		}
		for _, set := range sets {
			if len(set) > emfMaxDimensionsPerSet {
				return nil, fmt.Errorf("directive %d: a dimension set of %d keys (at most %d)", i, len(set), emfMaxDimensionsPerSet)
			}
			for _, name := range set {
				v, err := dimensionValue(root, name)
				if err != nil {
					return nil, fmt.Errorf("directive %d: dimension %q: %v", i, name, err)
				}
				out.Dimensions[name] = v
				named[name] = true
			}
			out.Sets = append(out.Sets, set)
		}
		var defs []json.RawMessage
		if err := json.Unmarshal(d["Metrics"], &defs); err != nil || len(defs) == 0 || len(defs) > emfMaxMetrics {
			return nil, fmt.Errorf("directive %d: Metrics is not an array of 1 to %d definitions", i, emfMaxMetrics)
		}
		for _, raw := range defs {
			var def map[string]json.RawMessage
			if err := strictObject(raw, &def, "Name", "Unit", "StorageResolution"); err != nil {
				return nil, fmt.Errorf("directive %d: metric: %v", i, err)
			}
			var name, unit string
			if err := json.Unmarshal(def["Name"], &name); err != nil || name == "" || len(name) > emfMaxNameLen {
				return nil, fmt.Errorf("directive %d: metric Name %s", i, def["Name"])
			}
			if u, ok := def["Unit"]; ok {
				if err := json.Unmarshal(u, &unit); err != nil || !slices.Contains(emfUnits, unit) {
					return nil, fmt.Errorf("metric %s: Unit %s is not a CloudWatch unit", name, u)
				}
			}
			if r, ok := def["StorageResolution"]; ok && string(r) != "1" && string(r) != "60" {
				return nil, fmt.Errorf("metric %s: StorageResolution %s (1 or 60)", name, r)
			}
			if _, isDim := out.Dimensions[name]; isDim {
				return nil, fmt.Errorf("%s is both a dimension and a metric", name)
			}
			values, err := metricValues(root[name])
			if err != nil {
				return nil, fmt.Errorf("metric %s: %v", name, err)
			}
			out.Metrics[name] = values
			named[name] = true
		}
	}
	for k := range root {
		if !named[k] {
			return nil, fmt.Errorf("root member %q is neither a dimension nor a metric of a directive", k)
		}
	}
	return out, nil
}

// strictObject decodes raw into out, an object whose members are among
// allowed (the specification: "MUST NOT contain any additional members"),
// with every allowed member but Unit and StorageResolution present.
func strictObject(raw json.RawMessage, out *map[string]json.RawMessage, allowed ...string) error {
	if len(raw) == 0 {
		return fmt.Errorf("missing")
	}
	if err := json.Unmarshal(raw, out); err != nil || *out == nil {
		return fmt.Errorf("not an object: %s", raw)
	}
	for k := range *out {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("member %q is not in the specification (%s)", k, strings.Join(allowed, ", "))
		}
	}
	for _, k := range allowed {
		if _, ok := (*out)[k]; !ok && k != "Unit" && k != "StorageResolution" {
			return fmt.Errorf("no %s", k)
		}
	}
	return nil
}

func dimensionValue(root map[string]json.RawMessage, name string) (string, error) {
	if name == "" || len(name) > emfMaxNameLen || strings.HasPrefix(name, ":") {
		return "", fmt.Errorf("not a dimension name")
	}
	raw, ok := root[name]
	if !ok {
		return "", fmt.Errorf("not a root member")
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("value %s is not a string", raw)
	}
	if strings.TrimSpace(v) == "" || len(v) > emfMaxDimValueLen || strings.IndexFunc(v, func(r rune) bool {
		return r > unicode.MaxASCII || unicode.IsControl(r)
	}) >= 0 {
		return "", fmt.Errorf("value %q is not 1-%d printable ASCII characters", v, emfMaxDimValueLen)
	}
	if identifierLike.MatchString(v) {
		return "", fmt.Errorf("value %q looks like an identifier or a secret", v)
	}
	return v, nil
}

func metricValues(raw json.RawMessage) ([]float64, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("not a root member")
	}
	var one float64
	if err := json.Unmarshal(raw, &one); err == nil {
		return []float64{one}, nil
	}
	var many []float64
	if err := json.Unmarshal(raw, &many); err != nil || len(many) == 0 || len(many) > emfMaxValues {
		return nil, fmt.Errorf("value %s is neither a number nor an array of 1 to %d numbers", raw, emfMaxValues)
	}
	for _, v := range many {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("value %v", v)
		}
	}
	return many, nil
}

// EMFLog collects metric lines written by several goroutines (an
// io.Writer for app.WithMetrics), each checked by ParseEMF as it comes.
type EMFLog struct {
	mu     sync.Mutex
	buf    []byte
	lines  []*EMFLine
	errors []string
}

func (l *EMFLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(l.buf[:i])
		l.buf = l.buf[i+1:]
		parsed, err := ParseEMF(line)
		if err != nil {
			l.errors = append(l.errors, fmt.Sprintf("%v: %s", err, line))
			continue
		}
		l.lines = append(l.lines, parsed)
	}
}

// Lines are the lines that passed ParseEMF.
func (l *EMFLog) Lines() []*EMFLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

// Errors are the lines that did not, each with why (and a line written
// without its newline).
func (l *EMFLog) Errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	errs := slices.Clone(l.errors)
	if len(l.buf) > 0 {
		errs = append(errs, "a line without its newline: "+string(l.buf))
	}
	return errs
}

// Raw is every line written, valid or not.
func (l *EMFLog) Raw() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, x := range l.lines {
		b.WriteString(x.Raw + "\n")
	}
	for _, e := range l.errors {
		b.WriteString(e + "\n")
	}
	return b.String() + string(l.buf)
}

// Count sums the values of metric in the lines whose dimensions include
// every name=value of dims.
func (l *EMFLog) Count(metric string, dims map[string]string) float64 {
	total := 0.0
	for _, x := range l.Lines() {
		if matches(x, dims) {
			for _, v := range x.Metrics[metric] {
				total += v
			}
		}
	}
	return total
}

func matches(x *EMFLine, dims map[string]string) bool {
	for k, v := range dims {
		if x.Dimensions[k] != v {
			return false
		}
	}
	return true
}

// Seen lists "metric{dim=value,...}" for every metric and dimension set of
// the lines, sorted, for coverage checks.
func (l *EMFLog) Seen() []string {
	seen := map[string]bool{}
	for _, x := range l.Lines() {
		for m := range x.Metrics {
			for _, set := range x.Sets {
				parts := make([]string, 0, len(set))
				for _, d := range set {
					if d != "Function" {
						parts = append(parts, d+"="+x.Dimensions[d])
					}
				}
				seen[m+"{"+strings.Join(parts, ",")+"}"] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
