package auth

// Step-up authentication (RFC 9470): a route may require a second factor
// (amr contains "mfa") or a sign-in younger than N seconds (auth_time).

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authkit/lambda-auth/shared/token"
)

// ACRMFA is the one authentication context class a route can require:
// a sign-in with more than one factor (RFC 8176 "mfa" in amr).
const ACRMFA = "mfa"

// StepUp is what one route requires of the sign-in behind a token: ACR
// "mfa" (a second factor) and/or MaxAge seconds since auth_time. The
// zero value requires nothing.
type StepUp struct {
	ACR    string `json:"acr,omitempty"`
	MaxAge int    `json:"max_age,omitempty"`
}

// StepUpError is a token good in itself whose sign-in is too weak or too
// old for what was asked: RFC 9470 3, error insufficient_user_authentication
// with the acr_values and max_age to ask the authorization server for.
// StaleSignInError says why a passkey registration's refusal is not one.
type StepUpError struct {
	StepUp
	Reason string
}

func (e *StepUpError) Error() string { return "insufficient user authentication: " + e.Reason }

// Check reports whether a sign-in with methods amr at authTime (zero:
// unknown) meets s at now; a *StepUpError if not.
func (s StepUp) Check(amr []string, authTime, now time.Time) error {
	if s.ACR == ACRMFA && !slices.Contains(amr, AMRMFA) {
		return &StepUpError{StepUp: s, Reason: "a second factor is required"}
	}
	if s.MaxAge > 0 {
		if authTime.IsZero() {
			return &StepUpError{StepUp: s, Reason: "the sign-in time is unknown: sign in again"}
		}
		if now.Sub(authTime) > time.Duration(s.MaxAge)*time.Second {
			return &StepUpError{StepUp: s, Reason: fmt.Sprintf("a sign-in within the last %d seconds is required", s.MaxAge)}
		}
	}
	return nil
}

// StepUpRules map an API Gateway route key ("METHOD /path", as in the
// template) to what the route requires.
type StepUpRules map[string]StepUp

// routeMethods are the methods of an HTTP API route key; ANY is every one.
var routeMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"}

// ParseStepUpRules reads the STEP_UP_ROUTES setting: a JSON object from
// route keys to {"acr": "mfa", "max_age": seconds}; "" is none. An
// unknown acr, a negative max_age, a rule that requires nothing or a key
// that is no route key (an unknown method, a path with a trailing slash,
// $default, a greedy {proxy+} path: StepUpFor says why those cannot hold)
// is an error: a typo must not leave a route open.
func ParseStepUpRules(s string) (StepUpRules, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var r StepUpRules
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("step-up routes: %w", err)
	}
	for k, v := range r {
		method, path, ok := strings.Cut(k, " ")
		if !ok || !slices.Contains(routeMethods, method) || !strings.HasPrefix(path, "/") ||
			len(path) > 1 && strings.HasSuffix(path, "/") || greedy(path) || strings.ContainsAny(path, " \t") {
			return nil, fmt.Errorf("step-up routes: %q is not the key of a route a rule can hold (\"METHOD /path\", METHOD one of %s, no trailing slash, no {proxy+})", k, strings.Join(routeMethods, " "))
		}
		if v.ACR != "" && v.ACR != ACRMFA || v.MaxAge < 0 || v == (StepUp{}) {
			return nil, fmt.Errorf("step-up routes: %q: acr must be %q or absent, max_age >= 0, and one of them set", k, ACRMFA)
		}
	}
	return r, nil
}

// greedy reports whether a route path ends in a greedy parameter
// ("/{proxy+}"), which matches any number of segments.
func greedy(path string) bool { return strings.Contains(path, "+}") }

// WithStepUp makes the authorizer hold routes to rules (StepUpFor).
func (a *Authorizer) WithStepUp(rules StepUpRules) *Authorizer {
	a.stepUp = rules
	return a
}

// ErrStepUpUnknownRoute: rules are set and the request came through a
// route whose rule cannot be told (the $default route, a greedy {proxy+}
// path, an ANY route without the request's method): denied, as any doubt
// is.
var ErrStepUpUnknownRoute = errors.New("step-up rules are set and this route's rule cannot be told ($default, {proxy+} or ANY without a method): denied")

// StepUpFor checks a verified token against the rule of the route it is
// presented to (routeKey: the event's "METHOD /path"; method: the
// request's HTTP method, needed for an ANY route only); nil when the
// route has none. An ANY route is held to the rule of its own key, else
// to the rule of the request's method on its path: a rule for "DELETE
// /orders/{id}" holds whether the API routes that request through
// "DELETE /orders/{id}" or "ANY /orders/{id}". While rules are set, the
// $default route and greedy paths are denied (ErrStepUpUnknownRoute):
// they may carry any path, so no rule could be told to apply or not.
// The token's amr and auth_time are signed claims (RFC 9068 2.2.1).
func (a *Authorizer) StepUpFor(routeKey, method string, c *token.Claims) error {
	if len(a.stepUp) == 0 {
		return nil
	}
	rule, ok := a.stepUp[routeKey]
	if !ok {
		m, path, _ := strings.Cut(routeKey, " ")
		switch {
		case routeKey == "$default" || greedy(path):
			return ErrStepUpUnknownRoute
		case m == "ANY" && method == "":
			return ErrStepUpUnknownRoute
		case m == "ANY":
			rule, ok = a.stepUp[strings.ToUpper(method)+" "+path]
		}
	}
	if !ok {
		return nil
	}
	var at time.Time
	if c.AuthTime != nil {
		at = c.AuthTime.Time
	}
	return rule.Check(c.AMR, at, a.now())
}
