package testenv

import (
	"strings"
	"testing"
)

// TestParseEMF: the checker accepts a line of the specification's shape
// and refuses each rule broken alone.
func TestParseEMF(t *testing.T) {
	const good = `{"_aws":{"Timestamp":1796040000000,"CloudWatchMetrics":[{"Namespace":"LambdaAuth","Dimensions":[["Function","Outcome"]],"Metrics":[{"Name":"Login","Unit":"Count"}]}]},"Function":"login","Outcome":"ok","Login":1,"level":"INFO"}`
	if _, err := ParseEMF(good); err != nil {
		t.Fatalf("a good line refused: %v", err)
	}
	dims31 := `["` + strings.Repeat(`D","`, 30) + `D"]`
	bad := map[string]string{
		"not JSON":                   `Login=1`,
		"two values":                 good + ` {}`,
		"no _aws":                    `{"Function":"login","Login":1}`,
		"Timestamp in seconds":       strings.Replace(good, "1796040000000", "1796040000", 1),
		"Timestamp a string":         strings.Replace(good, "1796040000000", `"1796040000000"`, 1),
		"no Timestamp":               strings.Replace(good, `"Timestamp":1796040000000,`, "", 1),
		"empty CloudWatchMetrics":    `{"_aws":{"Timestamp":1796040000000,"CloudWatchMetrics":[]},"Login":1}`,
		"unknown unit":               strings.Replace(good, `"Unit":"Count"`, `"Unit":"Requests"`, 1),
		"extra directive member":     strings.Replace(good, `"Namespace":"LambdaAuth",`, `"Namespace":"LambdaAuth","Extra":1,`, 1),
		"extra metric member":        strings.Replace(good, `"Unit":"Count"`, `"Unit":"Count","Stat":"Sum"`, 1),
		"AWS/ namespace":             strings.Replace(good, `"LambdaAuth"`, `"AWS/Lambda"`, 1),
		"31 dimensions":              strings.Replace(good, `["Function","Outcome"]`, dims31, 1),
		"dimension not a member":     strings.Replace(good, `"Outcome":"ok",`, "", 1),
		"dimension not a string":     strings.Replace(good, `"Outcome":"ok"`, `"Outcome":7`, 1),
		"metric not a member":        strings.Replace(good, `"Login":1,`, "", 1),
		"metric a string":            strings.Replace(good, `"Login":1`, `"Login":"1"`, 1),
		"101 values":                 strings.Replace(good, `"Login":1`, `"Login":[`+strings.Repeat("1,", 100)+`1]`, 1),
		"a property besides metrics": strings.Replace(good, `"level":"INFO"`, `"level":"INFO","user":"u1"`, 1),
		"a token as a dimension":     strings.Replace(good, `"Outcome":"ok"`, `"Outcome":"eyJhbGciOiJFUzI1NiJ9"`, 1),
		"a session id as dimension":  strings.Replace(good, `"Outcome":"ok"`, `"Outcome":"AZzJx3p9Qk2vB7nT4mW8yLq0"`, 1),
		"an e-mail as dimension":     strings.Replace(good, `"Outcome":"ok"`, `"Outcome":"a@b.c"`, 1),
		"a UUID as dimension":        strings.Replace(good, `"Outcome":"ok"`, `"Outcome":"4a6f2c1e-8b3d-4e9a-b7c5-1d2e3f4a5b6c"`, 1),
	}
	for name, line := range bad {
		if _, err := ParseEMF(line); err == nil {
			t.Errorf("%s: accepted: %s", name, line)
		}
	}
}
