package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/testenv"
)

// BenchmarkDevReady is the time from starting scripts/dev to ready (the
// endpoints file written: tools checked, servers up, key and tables there,
// every function built, started and initialised, the API listening), on a
// warm machine: tools installed, Go build cache filled by an earlier run.
// empty-state is a first start (or --reset): all eleven functions linked,
// key, tables and demo user created. restart is every start after that.
//
//	scripts/local-servers -- go test -run '^$' -bench DevReady -benchtime 5x ./scripts/devserver/
func BenchmarkDevReady(b *testing.B) {
	b.Run("empty-state", func(b *testing.B) {
		var took []time.Duration
		for b.Loop() {
			start := time.Now()
			d := testenv.StartDev(b)
			took = append(took, time.Since(start))
			d.Stop(b)
		}
		b.ReportMetric(median(took).Seconds(), "median-s")
	})
	b.Run("restart", func(b *testing.B) {
		state := b.TempDir()
		testenv.StartDevOn(b, state).Stop(b) // the first start fills the state
		var took []time.Duration
		for b.Loop() {
			start := time.Now()
			d := testenv.StartDevOn(b, state)
			took = append(took, time.Since(start))
			d.Stop(b)
		}
		b.ReportMetric(median(took).Seconds(), "median-s")
	})
}

// BenchmarkLocalAPIMe is one GET /me through the local API: the gateway,
// the authorizer function (signature check, revocation lookup on local
// DynamoDB) and the me function, each a real bootstrap under the emulator.
//
//	scripts/local-servers -- go test -run '^$' -bench LocalAPIMe -benchtime 2000x ./scripts/devserver/
func BenchmarkLocalAPIMe(b *testing.B) {
	d := testenv.StartDev(b)
	tok := loginForBench(b, d.API)
	client := &http.Client{Timeout: 10 * time.Second}
	var took []time.Duration
	for b.Loop() {
		req, _ := http.NewRequest("GET", d.API+"/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		took = append(took, time.Since(start))
		if resp.StatusCode != 200 {
			b.Fatalf("/me: %d", resp.StatusCode)
		}
	}
	b.ReportMetric(float64(median(took).Microseconds()), "median-us")
	b.ReportMetric(float64(percentile(took, 0.99).Microseconds()), "p99-us")
}

func loginForBench(b *testing.B, api string) string {
	b.Helper()
	body, _ := json.Marshal(map[string]string{"username": localapi.DemoUsername, "password": localapi.DemoPassword})
	resp, err := http.Post(api+"/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		b.Fatalf("login: %d %v", resp.StatusCode, err)
	}
	return out.AccessToken
}

func median(d []time.Duration) time.Duration { return percentile(d, 0.5) }

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(p*float64(len(s)-1)+0.5)]
}
