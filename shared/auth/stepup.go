package auth

// Step-up authentication (RFC 9470): a route may require a second factor
// (amr contains "mfa") or a sign-in younger than N seconds (auth_time).

import (
	"encoding/json"
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

// ParseStepUpRules reads the STEP_UP_ROUTES setting: a JSON object from
// route keys to {"acr": "mfa", "max_age": seconds}; "" is none. An
// unknown acr, a negative max_age, a rule that requires nothing or a key
// that is no route key is an error: a typo must not leave a route open.
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
		if !ok || method == "" || method != strings.ToUpper(method) || !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("step-up routes: %q is not a route key (\"METHOD /path\")", k)
		}
		if v.ACR != "" && v.ACR != ACRMFA || v.MaxAge < 0 || v == (StepUp{}) {
			return nil, fmt.Errorf("step-up routes: %q: acr must be %q or absent, max_age >= 0, and one of them set", k, ACRMFA)
		}
	}
	return r, nil
}

// WithStepUp makes the authorizer hold routes to rules (StepUpFor).
func (a *Authorizer) WithStepUp(rules StepUpRules) *Authorizer {
	a.stepUp = rules
	return a
}

// StepUpFor checks a verified token against the rule of the route it is
// presented to (routeKey: "METHOD /path"); nil when the route has none.
// The token's amr and auth_time are signed claims (RFC 9068 2.2.1).
func (a *Authorizer) StepUpFor(routeKey string, c *token.Claims) error {
	rule, ok := a.stepUp[routeKey]
	if !ok {
		return nil
	}
	var at time.Time
	if c.AuthTime != nil {
		at = c.AuthTime.Time
	}
	return rule.Check(c.AMR, at, a.now())
}
