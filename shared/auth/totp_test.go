package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TestTOTPCodesMatchAuthenticatorApps: the RFC 6238 codes computed here
// are those of github.com/pquerna/otp (SHA-1, 6 digits, 30 s), and the
// RFC 6238 appendix B test vector (8 digits there: its last 6 here).
func TestTOTPCodesMatchAuthenticatorApps(t *testing.T) {
	secret := []byte("12345678901234567890") // RFC 6238 appendix B, SHA-1
	for _, unix := range []int64{59, 1111111109, 1111111111, 1234567890, 2000000000, 20000000000} {
		at := time.Unix(unix, 0)
		want, err := totp.GenerateCodeCustom(b32.EncodeToString(secret), at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		if got := hotp(secret, totpStepAt(at)); got != want {
			t.Errorf("at %d: %s, pquerna/otp %s", unix, got, want)
		}
	}
	if got := hotp(secret, totpStepAt(time.Unix(59, 0))); got != "287082" { // 94287082
		t.Errorf("RFC 6238 B at 59 s: %s, want 287082", got)
	}
}

// TestMatchStep: a code of the step before, the current or the next one
// is accepted; older or newer ones, and any step not after the last used
// one, are not.
func TestMatchStep(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1_800_000_000, 0)
	cur := totpStepAt(now)
	for _, tc := range []struct {
		name   string
		step   int64
		last   int64
		wantOK bool
	}{
		{"current", cur, 0, true},
		{"previous", cur - 1, 0, true},
		{"next", cur + 1, 0, true},
		{"two steps old", cur - 2, 0, false},
		{"two steps ahead", cur + 2, 0, false},
		{"the step last used", cur, cur, false},
		{"a step before the last used", cur - 1, cur, false},
		{"after the last used", cur + 1, cur, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			step, ok := matchStep(secret, hotp(secret, tc.step), now, tc.last)
			if ok != tc.wantOK || ok && step != tc.step {
				t.Errorf("matchStep: %d %v, want %d %v", step, ok, tc.step, tc.wantOK)
			}
		})
	}
}

// TestRecoveryCodes: 120 bits, typed with or without dashes and in any
// case; anything else is no code.
func TestRecoveryCodes(t *testing.T) {
	c := newRecoveryCode()
	n := normalRecoveryCode(c)
	if len(n) != recoveryChars || strings.Count(c, "-") != 5 {
		t.Fatalf("code %q normalizes to %q", c, n)
	}
	for _, typed := range []string{strings.ToUpper(c), strings.ReplaceAll(c, "-", ""), strings.ReplaceAll(c, "-", " ")} {
		if normalRecoveryCode(typed) != n {
			t.Errorf("%q does not read as %q", typed, c)
		}
	}
	for _, bad := range []string{"", n[:23], n + "a", n[:23] + "1", n[:23] + "!"} {
		if normalRecoveryCode(bad) != "" {
			t.Errorf("%q reads as a code", bad)
		}
	}
	if recoveryHash("u1", n) == recoveryHash("u2", n) {
		t.Error("the hash of a code does not depend on the user")
	}
}

// TestStepUpRules: what a rule requires, and the settings refused.
func TestStepUpRules(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		name string
		rule StepUp
		amr  []string
		at   time.Time
		ok   bool
	}{
		{"mfa with mfa", StepUp{ACR: "mfa"}, []string{"pwd", "otp", "mfa"}, now, true},
		{"mfa with a password", StepUp{ACR: "mfa"}, []string{"pwd"}, now, false},
		{"max_age within", StepUp{MaxAge: 300}, []string{"pwd"}, now.Add(-300 * time.Second), true},
		{"max_age past", StepUp{MaxAge: 300}, []string{"pwd"}, now.Add(-301 * time.Second), false},
		{"max_age, auth_time unknown", StepUp{MaxAge: 300}, []string{"pwd"}, time.Time{}, false},
		{"both, old mfa", StepUp{ACR: "mfa", MaxAge: 60}, []string{"mfa"}, now.Add(-2 * time.Minute), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.rule.Check(tc.amr, tc.at, now)
			var se *StepUpError
			if (err == nil) != tc.ok || err != nil && (!errors.As(err, &se) || se.StepUp != tc.rule) {
				t.Errorf("Check: %v, want ok %v", err, tc.ok)
			}
		})
	}
	for _, bad := range []string{`{"GET /x": {}}`, `{"GET /x": {"acr": "pwd"}}`, `{"GET /x": {"max_age": -1}}`,
		`{"/x": {"acr": "mfa"}}`, `{"get /x": {"acr": "mfa"}}`, `{"GET /x": {"acr": "mfa", "maxage": 5}}`, `[1]`,
		`{"GET /x/": {"acr": "mfa"}}`, `{"$default": {"acr": "mfa"}}`, `{"ANY /{proxy+}": {"acr": "mfa"}}`, `{"FETCH /x": {"acr": "mfa"}}`,
		`{"GET  /x": {"acr": "mfa"}}`} {
		if _, err := ParseStepUpRules(bad); err == nil {
			t.Errorf("ParseStepUpRules(%s) accepted", bad)
		}
	}
	r, err := ParseStepUpRules(`{"DELETE /orders/{id}": {"acr": "mfa", "max_age": 300}}`)
	if err != nil || r["DELETE /orders/{id}"] != (StepUp{ACR: "mfa", MaxAge: 300}) {
		t.Errorf("ParseStepUpRules: %v %v", r, err)
	}
}
