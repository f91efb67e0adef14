package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
)

// signInResult is the passkey sign-in timed next to a password login
// through scripts/dev, in the same run (milliseconds per sign-in).
type signInResult struct {
	series  map[string][]float64
	order   []string
	n       int
	warmups int
	alone   string // set when the section was written by -only
}

const (
	seriesPasswordLogin = "password login: POST /auth/login (argon2id)"
	seriesPasskeyLogin  = "passkey login: POST /auth/passkey/options, the assertion, POST /auth/passkey/login"
	seriesPasskeyFinish = "of which POST /auth/passkey/login"
)

// runSignIn starts scripts/dev, signs the demo user in with the password,
// registers a passkey made by a software authenticator
// (testenv.Authenticator: a P-256 key, as a platform authenticator's),
// then times password logins and passkey sign-ins through the local API
// gateway, interleaved. Each is a whole sign-in: a new session and its
// first access token signed with local KMS.
func runSignIn(ctx context.Context, o *options, r *report) error {
	env, stop, err := startDev(ctx, o, "signin")
	if err != nil {
		return err
	}
	defer stop()
	api := strings.TrimSuffix(env["API_URL"], "/")
	u, err := url.Parse(api)
	if err != nil {
		return err
	}
	// scripts/dev's passkeys: RP ID localhost, origin http://localhost:PORT.
	authn := testenv.NewAuthenticator("localhost", "http://localhost:"+u.Port())
	post := func(ctx context.Context, path, bearer string, body []byte) ([]byte, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, api+path, bytes.NewReader(body))
		req.Header.Set("content-type", "application/json")
		if bearer != "" {
			req.Header.Set("authorization", "Bearer "+bearer)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			return nil, fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, b)
		}
		return b, nil
	}
	creds, _ := json.Marshal(map[string]string{"username": env["DEMO_USERNAME"], "password": env["DEMO_PASSWORD"]})
	passwordLogin := func(ctx context.Context) (string, error) {
		b, err := post(ctx, "/auth/login", "", creds)
		if err != nil {
			return "", err
		}
		var t struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(b, &t); err != nil || t.AccessToken == "" {
			return "", fmt.Errorf("login answer %s", b)
		}
		return t.AccessToken, nil
	}
	access, err := passwordLogin(ctx)
	if err != nil {
		return err
	}
	opts, err := post(ctx, "/auth/passkeys/register/options", access, nil)
	if err != nil {
		return err
	}
	cred, err := authn.Create(opts, testenv.Ceremony{})
	if err != nil {
		return err
	}
	if _, err := post(ctx, "/auth/passkeys/register", access, cred); err != nil {
		return err
	}

	var finish []float64
	steps := []step{
		{seriesPasswordLogin, func(ctx context.Context) error { _, err := passwordLogin(ctx); return err }},
		{seriesPasskeyLogin, func(ctx context.Context) error {
			opts, err := post(ctx, "/auth/passkey/options", "", nil)
			if err != nil {
				return err
			}
			a, err := authn.Get(opts, testenv.Ceremony{})
			if err != nil {
				return err
			}
			t0 := nowMs()
			if _, err := post(ctx, "/auth/passkey/login", "", a); err != nil {
				return err
			}
			finish = append(finish, nowMs()-t0)
			return nil
		}},
	}
	const warmups = 5
	n := 20 * o.svcRounds
	series, err := timeSteps(ctx, steps, warmups, n)
	if err != nil {
		return err
	}
	series[seriesPasskeyFinish] = finish[warmups:]
	r.signIn = signInResult{series: series, n: n, warmups: warmups,
		order: []string{seriesPasswordLogin, seriesPasskeyLogin, seriesPasskeyFinish}}
	return nil
}

func (r *report) writeSignIn(w *mdWriter) {
	s := r.signIn
	if len(s.series) == 0 {
		return
	}
	w.p("## Sign-in through scripts/dev: password and passkey")
	w.p("")
	w.p("A whole sign-in through the local API gateway (scripts/dev: each function under aws-lambda-rie, local KMS and DynamoDB Local), %d of each after %d warm-ups, interleaved: a password login (argon2id at m=19 MiB, t=2, p=1) next to a passkey sign-in with no username (the options with a new challenge, the assertion of a software P-256 authenticator, then the finish: the challenge consumed, the signature checked, the counter recorded, a session started). Both end in the same session start and one KMS Sign.", s.n, s.warmups)
	if s.alone != "" {
		w.p("")
		w.p("%s", s.alone)
	}
	w.p("")
	w.code("go run ./scripts/benchmark -only 'sign-in through scripts/dev'   # or the whole scripts/bench")
	w.header("sign-in", "median", "p90", "× password login")
	base := median(s.series[seriesPasswordLogin])
	for _, name := range s.order {
		v := s.series[name]
		w.row(name, f2(median(v))+" ms", f2(percentile(v, 90))+" ms", f2(median(v)/base))
	}
	w.p("")
	w.p("The password login's time is mostly argon2id (CPU work, which scales with the function's memory setting); the passkey sign-in spends two gateway round trips and an ECDSA P-256 verification instead. On AWS each DynamoDB and KMS call is a network round trip of a few milliseconds, which local stand-ins do not show.")
	w.p("")
}

// nowMs is the monotonic clock in milliseconds.
func nowMs() float64 { return float64(time.Since(benchEpoch).Nanoseconds()) / 1e6 }

var benchEpoch = time.Now()
