// Package metrics writes the service's metrics as CloudWatch Embedded
// Metric Format (EMF) lines: one JSON object per line on the function's
// standard output, from which CloudWatch Logs extracts the metrics
// ([EMF specification]). No CloudWatch API call, no client, no IAM
// permission: Lambda sends stdout to the function's log group, and the
// role's logs:PutLogEvents covers it.
//
// Every metric is in one namespace, [Namespace], with low-cardinality
// dimensions only: the function, an outcome, a reason, a revocation kind,
// a dependency. The values are this package's own constants, so no user
// id, session id, jti, username or token can become a dimension (each
// distinct value is a metric CloudWatch bills for, and a dimension is
// stored in the clear).
//
// Lambda's JSON log format ([LoggingConfig] LogFormat JSON, as the
// template sets) leaves a line that is already a JSON object as it is, and
// CloudWatch Logs extracts EMF from it. Its log-level filter
// (ApplicationLogLevel) reads a "level" member, taking INFO when there is
// none: a metric line would be dropped by a filter set to WARN or above.
// So every line carries "level" equal to the function's own
// AWS_LAMBDA_LOG_LEVEL, which no filter drops ([log-level filtering]).
//
// [EMF specification]: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
// [LoggingConfig]: https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-logformat.html
// [log-level filtering]: https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html
package metrics

import (
	"encoding/json"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of every metric here; the
// template's alarms and dashboard read it.
const Namespace = "LambdaAuth"

// Metric names (CloudWatch's MetricName) and the dimensions each one is
// published with.
const (
	// Login counts login answers by Outcome (Function, Outcome).
	Login = "Login"
	// LoginLockout counts usernames locked after repeated failures
	// (Function): each is one lock set, however many attempts follow.
	LoginLockout = "LoginLockout"
	// Refresh counts refresh answers by Outcome (Function, Outcome).
	Refresh = "Refresh"
	// SecondFactor counts the answers of a login's second step (POST
	// /auth/login/mfa) by Outcome (Function, Outcome): invalid_credentials
	// is a wrong or replayed code, or a used or expired challenge.
	SecondFactor = "SecondFactor"
	// Revocation counts revocation entries written, by Kind (Function,
	// Kind).
	Revocation = "Revocation"
	// RevocationFeedItems counts revocation feed items written (Function):
	// by the revoking functions right after an entry changed, and by the
	// revocation-feed function for changes the service did not feed.
	RevocationFeedItems = "RevocationFeedItems"
	// RevocationEscalation counts revocations written as one user entry
	// because the user's revocation budget was spent (Function).
	RevocationEscalation = "RevocationEscalation"
	// AuthorizerDecision counts the authorizer's decisions (Function,
	// Decision, Reason; and Function alone).
	AuthorizerDecision = "AuthorizerDecision"
	// AuthorizerLatency is the time from the event to the decision, in
	// milliseconds (same dimensions as AuthorizerDecision).
	AuthorizerLatency = "AuthorizerLatency"
	// ReplicaAge is how long ago the revocation replica last synced, in
	// milliseconds (Function; replica mode only).
	ReplicaAge = "ReplicaAge"
	// ReplicaClockSkew is the authorizer host's clock minus DynamoDB's (the
	// Date of its answers), in milliseconds, written when it is beyond
	// the replica's bound (2 s), at most once a minute (Function; replica
	// mode only). The replica decides on DynamoDB's clock; the token
	// expiry checks still use the host's.
	ReplicaClockSkew = "ReplicaClockSkew"
	// ReplicaRefused counts reads of the revocation feed whose result a
	// replica refused (Function; replica mode only): a feed item or
	// snapshot pointer written under another feed layout (the view is
	// dropped and every request denied until the layouts agree), or a
	// snapshot whose watermark is ahead of DynamoDB's clock (the feed is
	// read instead). A warning log line says which.
	ReplicaRefused = "ReplicaRefused"
	// DependencyError counts failed calls to DynamoDB or KMS that a
	// request could not do without (Function, Service, Kind).
	DependencyError = "DependencyError"
)

// DimensionSets are the dimension sets each metric is published with: what
// an alarm or a dashboard may ask for (a CloudWatch metric is named by its
// namespace, name and exact set of dimensions).
var DimensionSets = map[string][][]string{
	Login:                {{DimFunction, DimOutcome}},
	Refresh:              {{DimFunction, DimOutcome}},
	SecondFactor:         {{DimFunction, DimOutcome}},
	LoginLockout:         {{DimFunction}},
	Revocation:           {{DimFunction, DimKind}},
	RevocationFeedItems:  {{DimFunction}},
	RevocationEscalation: {{DimFunction}},
	AuthorizerDecision:   {{DimFunction, DimDecision, DimReason}, {DimFunction}},
	AuthorizerLatency:    {{DimFunction, DimDecision, DimReason}, {DimFunction}},
	ReplicaAge:           {{DimFunction}},
	ReplicaClockSkew:     {{DimFunction}},
	ReplicaRefused:       {{DimFunction}},
	DependencyError:      {{DimFunction, DimService, DimKind}},
}

// Dimension names.
const (
	DimFunction = "Function"
	DimOutcome  = "Outcome"
	DimDecision = "Decision"
	DimReason   = "Reason"
	DimKind     = "Kind"
	DimService  = "Service"
)

// Values lists every value a dimension other than Function takes: the only
// values a metric line can carry.
var Values = map[string][]string{
	DimOutcome:  {string(OK), string(InvalidCredentials), string(Locked), string(Conflict), string(ReuseDetected), string(Invalid), string(Forbidden), string(InvalidRequest), string(Unavailable), string(Error), string(MFARequired)},
	DimDecision: {"allow", "deny"},
	DimReason:   {string(Allowed), string(NoToken), string(Malformed), string(BadHeader), string(UnknownKey), string(Signature), string(Expired), string(BadClaims), string(Revoked), string(StoreDown), string(Stale), string(DPoPProof), string(DPoPBinding), string(StepUp)},
	DimKind:     {string(KindToken), string(KindSession), string(KindUser), string(KindAll), string(Throttled), string(Timeout), string(Failed)},
	DimService:  {string(DynamoDB), string(KMS)},
}

// Outcome is what a login or refresh answered.
type Outcome string

// Outcomes. Login: OK, InvalidCredentials, Locked, InvalidRequest,
// Unavailable. Refresh: OK, Conflict, ReuseDetected, Invalid, Forbidden,
// InvalidRequest, Unavailable. Error: anything answered 500.
const (
	OK                 Outcome = "ok"
	InvalidCredentials Outcome = "invalid_credentials"
	Locked             Outcome = "locked"
	Conflict           Outcome = "conflict"
	ReuseDetected      Outcome = "reuse_detected"
	Invalid            Outcome = "invalid"
	Forbidden          Outcome = "forbidden"
	InvalidRequest     Outcome = "invalid_request"
	Unavailable        Outcome = "unavailable"
	Error              Outcome = "error"
	// MFARequired: a right password of a user with a second factor, who
	// gets a challenge instead of tokens (POST /auth/login).
	MFARequired Outcome = "mfa_required"
)

// Reason is why the authorizer allowed or denied: Allowed, or one of the
// deny reasons, each a defence of its own (shared/token's sentinel errors
// and the revocation lookup).
type Reason string

// Authorizer reasons.
const (
	Allowed    Reason = "ok"
	NoToken    Reason = "no_token"    // no "Bearer <token>" header, or an event we do not take
	Malformed  Reason = "malformed"   // not a compact JWS of ours: size, alphabet, segments, JSON
	BadHeader  Reason = "header"      // header members, typ, alg not the key's
	UnknownKey Reason = "unknown_key" // kid of no trusted key (a key rotation shows here)
	Signature  Reason = "signature"   // the signature does not verify
	Expired    Reason = "expired"     // exp passed
	BadClaims  Reason = "claims"      // iss, aud, nbf, iat, lifetime, a missing claim, a sid not ours
	Revoked    Reason = "revoked"     // a revocation entry covers it
	// DPoPProof: the DPoP proof is missing, several, or fails a check of
	// RFC 9449 4.3 (a replay included).
	DPoPProof Reason = "dpop_proof"
	// DPoPBinding: a DPoP-bound token sent as a bearer token, or a token
	// bound to no key sent with the DPoP scheme (RFC 9449 7.1, 7.2).
	DPoPBinding Reason = "dpop_binding"
	// StoreDown: revocations could not be checked (fail closed): the
	// store failed or was too slow (strict mode).
	StoreDown Reason = "unavailable"
	// Stale: the revocation replica's view is older than its staleness
	// bound, or there has never been one (replica mode; fail closed). Not
	// a DependencyError: the syncs behind it failed, and ReplicaAge shows
	// for how long.
	Stale Reason = "stale"
	// StepUp: a good token whose sign-in is too weak or too old for the
	// route (RFC 9470: STEP_UP_ROUTES).
	StepUp Reason = "step_up"
)

// Decision is the authorizer's decision, from its Reason.
func (r Reason) Decision() string {
	if r == Allowed {
		return "allow"
	}
	return "deny"
}

// Kind is a kind of revocation entry.
type Kind string

// Revocation kinds: one access token (jti#), one session (sid#), every
// session of a user (sub#), every session of everyone (all#*, the global
// cutoff).
const (
	KindToken   Kind = "token"
	KindSession Kind = "session"
	KindUser    Kind = "user"
	KindAll     Kind = "all"
)

// Service is a dependency.
type Service string

// Dependencies.
const (
	DynamoDB Service = "DynamoDB"
	KMS      Service = "KMS"
)

// Failure is how a dependency failed.
type Failure string

// Dependency failures: Throttled (the service refused for rate:
// ThrottlingException and kin), Timeout (no answer within the budget),
// Failed (anything else).
const (
	Throttled Failure = "throttled"
	Timeout   Failure = "timeout"
	Failed    Failure = "error"
)

// Units ([CloudWatch units]).
//
// [CloudWatch units]: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDatum.html
const (
	Count        = "Count"
	Milliseconds = "Milliseconds"
)

// MaxValues is how many values one metric may carry in one line (EMF
// specification: an array of at most 100 numbers).
const MaxValues = 100

// DefaultFlushInterval is how long the authorizer's decisions are gathered
// before they are written (Recorder.Decision).
const DefaultFlushInterval = 10 * time.Second

// Recorder writes metric lines to one writer (os.Stdout in a function).
// A nil *Recorder records nothing. It is safe for concurrent use.
type Recorder struct {
	w          io.Writer
	function   string
	level      string
	now        func() time.Time
	interval   time.Duration
	replicaAge func() time.Duration

	mu      sync.Mutex
	pending map[Reason]*gathered
	first   time.Time // of the oldest pending decision
	values  int       // latencies pending, all reasons
}

type gathered struct {
	n       int
	latency []float64
}

// Option configures a Recorder.
type Option func(*Recorder)

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(r *Recorder) { r.now = now } }

// WithLevel sets the lines' "level" member: the function's
// AWS_LAMBDA_LOG_LEVEL, so that Lambda's log-level filter keeps them.
// Empty or unknown: INFO.
func WithLevel(level string) Option {
	return func(r *Recorder) {
		switch l := strings.ToUpper(level); l {
		case "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL":
			r.level = l
		}
	}
}

// WithFlushInterval sets how long decisions are gathered before a line is
// written; 0 writes one line per decision.
func WithFlushInterval(d time.Duration) Option { return func(r *Recorder) { r.interval = d } }

// WithReplicaAge adds ReplicaAge to every flush of decisions: age returns
// the revocation replica's age, negative when it never synced.
func WithReplicaAge(age func() time.Duration) Option {
	return func(r *Recorder) { r.replicaAge = age }
}

// New returns a Recorder writing to w with Function = function (the
// Lambda function's name).
func New(w io.Writer, function string, opts ...Option) *Recorder {
	if strings.TrimSpace(function) == "" {
		function = "unknown" // a dimension value needs a visible character
	}
	r := &Recorder{w: w, function: function, level: "INFO", now: time.Now,
		interval: DefaultFlushInterval, pending: map[Reason]*gathered{}}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Login counts one login answer.
func (r *Recorder) Login(o Outcome) { r.count(Login, DimOutcome, string(o)) }

// Refresh counts one refresh answer.
func (r *Recorder) Refresh(o Outcome) { r.count(Refresh, DimOutcome, string(o)) }

// SecondFactor counts one answer of a login's second step.
func (r *Recorder) SecondFactor(o Outcome) { r.count(SecondFactor, DimOutcome, string(o)) }

// LoginLockout counts one username locked.
func (r *Recorder) LoginLockout() { r.count(LoginLockout, "", "") }

// Revocation counts one revocation entry written.
func (r *Recorder) Revocation(k Kind) { r.count(Revocation, DimKind, string(k)) }

// ClockSkew records the host's clock minus DynamoDB's, seen beyond the
// replica's bound.
func (r *Recorder) ClockSkew(d time.Duration) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.write(r.now(), map[string]any{ReplicaClockSkew: float64(d.Microseconds()) / 1000},
		directive{dims: DimensionSets[ReplicaClockSkew], metrics: []metric{{ReplicaClockSkew, Milliseconds}}})
}

// Refused counts one feed read a replica refused (ReplicaRefused).
func (r *Recorder) Refused() { r.count(ReplicaRefused, "", "") }

// FeedItem counts one revocation feed item written.
func (r *Recorder) FeedItem() { r.count(RevocationFeedItems, "", "") }

// Escalation counts one revocation escalated to a user entry.
func (r *Recorder) Escalation() { r.count(RevocationEscalation, "", "") }

// DependencyError counts one failed call to a dependency.
func (r *Recorder) DependencyError(s Service, f Failure) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.write(r.now(), map[string]any{DimService: string(s), DimKind: string(f), DependencyError: 1},
		directive{dims: DimensionSets[DependencyError], metrics: []metric{{DependencyError, Count}}})
}

// count writes one line counting one event of name, with its dimension
// besides Function (none when dim is "").
func (r *Recorder) count(name, dim, value string) {
	if r == nil {
		return
	}
	members := map[string]any{name: 1}
	if dim != "" {
		members[dim] = value
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.write(r.now(), members, directive{dims: DimensionSets[name], metrics: []metric{{name, Count}}})
}

// Decision records one authorizer decision and how long it took. The
// authorizer answers every protected request, so its decisions are
// gathered and written together: one line per reason seen, with the count
// and up to MaxValues latencies (each a sample: percentiles stay exact),
// stamped with the first decision's time. A line is written when a
// decision comes more than the flush interval after the first one pending,
// or when MaxValues latencies are pending. What is pending when Lambda
// reclaims the execution environment is lost: at most the flush interval,
// or MaxValues decisions, of one environment.
func (r *Recorder) Decision(reason Reason, latency time.Duration) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if r.values > 0 && now.Sub(r.first) >= r.interval {
		r.flush()
	}
	if r.values == 0 {
		r.first = now
	}
	g := r.pending[reason]
	if g == nil {
		g = &gathered{}
		r.pending[reason] = g
	}
	g.n++
	g.latency = append(g.latency, float64(latency.Microseconds())/1000)
	r.values++
	if r.values >= MaxValues || r.interval <= 0 {
		r.flush()
	}
}

// Flush writes the decisions gathered so far.
func (r *Recorder) Flush() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.values > 0 {
		r.flush()
	}
}

func (r *Recorder) flush() {
	reasons := make([]Reason, 0, len(r.pending))
	for reason := range r.pending {
		reasons = append(reasons, reason)
	}
	sort.Slice(reasons, func(i, j int) bool { return reasons[i] < reasons[j] })
	for _, reason := range reasons {
		g := r.pending[reason]
		r.write(r.first, map[string]any{DimDecision: reason.Decision(), DimReason: string(reason),
			AuthorizerDecision: g.n, AuthorizerLatency: g.latency},
			directive{dims: DimensionSets[AuthorizerDecision],
				metrics: []metric{{AuthorizerDecision, Count}, {AuthorizerLatency, Milliseconds}}})
	}
	if r.replicaAge != nil {
		if age := r.replicaAge(); age >= 0 {
			r.write(r.first, map[string]any{ReplicaAge: float64(age.Microseconds()) / 1000},
				directive{dims: DimensionSets[ReplicaAge], metrics: []metric{{ReplicaAge, Milliseconds}}})
		}
	}
	clear(r.pending)
	r.values = 0
}

type metric struct{ name, unit string }

type directive struct {
	dims    [][]string
	metrics []metric
}

// emfDirective and emfMetric are the EMF MetricDirective and
// MetricDefinition objects.
type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type emfMetadata struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

// write writes one line: the _aws metadata, Function, level and members.
// The caller holds r.mu, so lines never interleave.
func (r *Recorder) write(at time.Time, members map[string]any, d directive) {
	ms := make([]emfMetric, len(d.metrics))
	for i, m := range d.metrics {
		ms[i] = emfMetric{Name: m.name, Unit: m.unit}
	}
	members["_aws"] = emfMetadata{Timestamp: at.UnixMilli(),
		CloudWatchMetrics: []emfDirective{{Namespace: Namespace, Dimensions: d.dims, Metrics: ms}}}
	members[DimFunction] = r.function
	members["level"] = r.level
	b, err := json.Marshal(members)
	if err != nil {
		return // only numbers and this package's strings: cannot happen
	}
	r.w.Write(append(b, '\n')) // one write per line: a line is never split
}
