package localapi

import (
	"strings"
	"testing"

	"github.com/authkit/lambda-auth/shared/config"
)

// TestParameterChecks: each constraint CloudFormation applies refuses what
// it would refuse, in the ConstraintDescription's words when the template
// gives one.
func TestParameterChecks(t *testing.T) {
	tpl, err := Parse([]byte(`
Parameters:
  TTL:
    Type: String
    AllowedPattern: "^([0-9]+(ms|s|m|h))+$"
    ConstraintDescription: must be a Go duration such as 15m.
  Unanchored:
    Type: String
    AllowedPattern: "[a-z]+"
  Spec:
    Type: String
    AllowedValues: [ECC_NIST_P256, RSA_2048]
  Name:
    Type: String
    MinLength: 2
    MaxLength: 4
  Count:
    Type: Number
    MinValue: 1
    MaxValue: 100
  Keys:
    Type: CommaDelimitedList
    AllowedPattern: "^arn:[^,]+$"
Resources: {}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		param, value string
		want         string // "" = accepted; else a part of the error
	}{
		{"TTL", "15m", ""},
		{"TTL", "1h30m", ""},
		{"TTL", "forever", "TTL=\"forever\" failed to satisfy constraint: must be a Go duration such as 15m."},
		{"TTL", "", "must be a Go duration"},
		{"Unanchored", "abc", ""},
		{"Unanchored", "abc1", "must match pattern [a-z]+"}, // the whole value, as CloudFormation matches
		{"Spec", "RSA_2048", ""},
		{"Spec", "RSA_1024", "must be one of ECC_NIST_P256, RSA_2048"},
		{"Name", "ab", ""},
		{"Name", "a", "at least 2 characters"},
		{"Name", "abcde", "at most 4 characters"},
		{"Count", "100", ""},
		{"Count", "0", "at least 1"},
		{"Count", "101", "at most 100"},
		{"Count", "many", "must be a number"},
		{"Keys", "arn:a,arn:b", ""},
		{"Keys", "arn:a,alias/b", "must match pattern"}, // each item of a list
	}
	for _, c := range cases {
		err := tpl.Parameters[c.param].Check(c.value)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s=%q refused: %v", c.param, c.value, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s=%q: %v, want an error with %q", c.param, c.value, err, c.want)
		}
	}
	err = tpl.CheckParams(map[string]string{"TTL": "forever", "Nope": "x", "Count": "5"})
	if err == nil || !strings.Contains(err.Error(), "no parameter Nope") || !strings.Contains(err.Error(), "TTL=\"forever\"") || strings.Contains(err.Error(), "Count=") {
		t.Errorf("CheckParams: %v, want the unknown parameter and the bad TTL, nothing about Count", err)
	}
}

// TestProjectParameters: the project template's defaults, and the values
// a local run gives the parameters without one, satisfy its constraints;
// the constraints that scripts/dev --param relies on are read.
func TestProjectParameters(t *testing.T) {
	tpl, err := Load(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	local := LocalParams(tpl, "http://127.0.0.1:3000")
	for name, p := range tpl.Parameters {
		if err := p.Check(local[name]); err != nil {
			t.Errorf("the local value of %s: %v", name, err)
		}
	}
	if err := tpl.Parameters["AccessTokenTTL"].Check("forever"); err == nil || !strings.Contains(err.Error(), "must be a Go duration such as 15m or 900s") {
		t.Errorf("AccessTokenTTL=forever: %v", err)
	}
	if err := tpl.Parameters["SigningKeySpec"].Check("ECC_NIST_EDWARDS25519"); err == nil {
		t.Error("SigningKeySpec outside its AllowedValues accepted")
	}
	if err := tpl.Parameters["LoginMaxFailures"].Check("0"); err == nil {
		t.Error("LoginMaxFailures below its MinValue accepted")
	}
	for iss, ok := range map[string]bool{"https://auth.example.com": true, "https://auth.example.com/": false,
		"https://auth.example.com?x": false, "http://auth.example.com": false, "http://127.0.0.1:3000": true} {
		if err := tpl.Parameters["Issuer"].Check(iss); (err == nil) != ok {
			t.Errorf("Issuer=%s: %v, want accepted %v", iss, err, ok)
		}
	}
	if err := tpl.Parameters["Audience"].Check(""); err == nil {
		t.Error("an empty Audience accepted (MinLength 1)")
	}
}

// TestEveryFunctionStartsWithShortTokens: with the template's defaults and
// an AccessTokenTTL the AccessTokenTTL parameter allows, down to 30 s
// (and its examples: 1m, 2m), every function's configuration loads from
// the environment the template gives it. A default of 5m for
// RevocationMaxStaleness once made the authorizer refuse to start with any
// AccessTokenTTL under 5 minutes (its limit is the token lifetime).
func TestEveryFunctionStartsWithShortTokens(t *testing.T) {
	tpl, err := Load(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	resources := LocalResources(tpl, KeyAlias, MACKeyAlias)
	for _, ttl := range []string{"30s", "1m", "2m", "15m"} {
		params := LocalParams(tpl, "http://127.0.0.1:3000", map[string]string{"AccessTokenTTL": ttl})
		for _, f := range tpl.Functions {
			vars, err := FunctionEnv(tpl, f, params, resources, EndpointVariables("http://127.0.0.1:4599", "http://127.0.0.1:4567"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := config.Load(func(k string) string { return vars[k] }); err != nil {
				t.Errorf("AccessTokenTTL=%s: %s does not start: %v", ttl, f.ID, err)
			}
		}
	}
}
