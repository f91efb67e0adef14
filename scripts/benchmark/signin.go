package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/dynamo"
)

// signInResult is the passkey sign-in and the password + TOTP login timed
// next to a password login through scripts/dev, in the same run
// (milliseconds per sign-in).
type signInResult struct {
	series    map[string][]float64
	order     []string
	n         int
	warmups   int
	totpUsers int    // users enrolled in TOTP, one per password + TOTP login
	alone     string // set when the section was written by -only
}

const (
	seriesPasswordLogin = "password login: POST /auth/login (argon2id)"
	seriesPasskeyLogin  = "passkey login: POST /auth/passkey/options, the assertion, POST /auth/passkey/login"
	seriesPasskeyFinish = "of which POST /auth/passkey/login"
	seriesTOTPLogin     = "password + TOTP login: POST /auth/login (403 mfa_required), the code, POST /auth/login/mfa"
	seriesTOTPPassword  = "of which POST /auth/login (403 mfa_required)"
	seriesTOTPFinish    = "of which POST /auth/login/mfa"
)

// runSignIn starts scripts/dev, signs the demo user in with the password,
// registers a passkey made by a software authenticator
// (testenv.Authenticator: a P-256 key, as a platform authenticator's),
// enrols a pool of users in TOTP through the API (totpPool), then times
// password logins, passkey sign-ins and password + TOTP logins through the
// local API gateway, interleaved. Each is a whole sign-in: a new session
// and its first access token signed with local KMS.
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
	c := apiCaller{api: api}
	post := c.post
	creds, _ := json.Marshal(map[string]string{"username": env["DEMO_USERNAME"], "password": env["DEMO_PASSWORD"]})
	passwordLogin := func(ctx context.Context) (string, error) {
		b, err := post(ctx, "/auth/login", "", creds)
		if err != nil {
			return "", err
		}
		return accessToken(b)
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

	const warmups = 5
	n := 20 * o.svcRounds
	// One enrolled user per password + TOTP login, warm-ups included: a
	// code is accepted once per 30-second step per user (the last used
	// step is stored), so one user could sign in with TOTP only twice a
	// minute. The pool is made before any timing.
	pool, err := totpPool(ctx, c, env, warmups+n)
	if err != nil {
		return fmt.Errorf("enrol the TOTP users: %w", err)
	}
	next := 0

	var finish, totpPassword, totpFinish []float64
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
		{seriesTOTPLogin, func(ctx context.Context) error {
			if next == len(pool) {
				return fmt.Errorf("all %d TOTP users signed in already", len(pool))
			}
			u := pool[next]
			next++
			t0 := nowMs()
			status, b, err := c.do(ctx, "/auth/login", "", u.creds)
			if err != nil {
				return err
			}
			totpPassword = append(totpPassword, nowMs()-t0)
			var ch struct {
				Error    string `json:"error"`
				MFAToken string `json:"mfa_token"`
			}
			_ = json.Unmarshal(b, &ch) // an answer that is not JSON leaves ch empty: refused below
			if status != http.StatusForbidden || ch.Error != "mfa_required" || ch.MFAToken == "" {
				return fmt.Errorf("password step of %s: %d %s, want 403 mfa_required", u.username, status, b)
			}
			code, err := totpCode(u.secret, totpLoginStep(time.Now(), u.confirmStep))
			if err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]string{"mfa_token": ch.MFAToken, "code": code})
			t0 = nowMs()
			b, err = post(ctx, "/auth/login/mfa", "", body)
			if err != nil {
				return err
			}
			totpFinish = append(totpFinish, nowMs()-t0)
			_, err = accessToken(b)
			return err
		}},
	}
	series, err := timeSteps(ctx, steps, warmups, n)
	if err != nil {
		return err
	}
	series[seriesPasskeyFinish] = finish[warmups:]
	series[seriesTOTPPassword] = totpPassword[warmups:]
	series[seriesTOTPFinish] = totpFinish[warmups:]
	r.signIn = signInResult{series: series, n: n, warmups: warmups, totpUsers: len(pool),
		order: []string{seriesPasswordLogin, seriesPasskeyLogin, seriesPasskeyFinish, seriesTOTPLogin, seriesTOTPPassword, seriesTOTPFinish}}
	return nil
}

// apiCaller sends JSON requests to scripts/dev's API.
type apiCaller struct{ api string }

// do sends a POST of body to path (with a bearer token unless "") and
// returns the answer's status and body, whatever the status.
func (c apiCaller) do(ctx context.Context, path, bearer string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.api+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("content-type", "application/json")
	if bearer != "" {
		req.Header.Set("authorization", "Bearer "+bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s: read the answer: %w", path, err)
	}
	return resp.StatusCode, b, nil
}

// post is do with any status but 2xx an error.
func (c apiCaller) post(ctx context.Context, path, bearer string, body []byte) ([]byte, error) {
	status, b, err := c.do(ctx, path, bearer, body)
	if err != nil {
		return nil, err
	}
	if status/100 != 2 {
		return nil, fmt.Errorf("POST %s: %d %s", path, status, b)
	}
	return b, nil
}

// accessToken is the access token of a login's answer.
func accessToken(b []byte) (string, error) {
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("login answer %s", b)
	}
	return t.AccessToken, nil
}

// totpUser is a user of the pool, enrolled in TOTP.
type totpUser struct {
	username    string
	creds       []byte // the password login's body
	secret      string // base32, as POST /auth/mfa/totp answered it
	confirmStep int64  // the time step of the code that confirmed the enrolment
}

// totpPool makes count users and enrols each in TOTP as a user would,
// through the API: a password login (the enrolment needs a sign-in of the
// last 5 minutes), POST /auth/mfa/totp (the secret, sealed with KMS
// Encrypt), POST /auth/mfa/totp/confirm with the current code (the
// factor active, its step recorded). There is no sign-up route: the users
// are added to scripts/dev's users table as scripts/create-user adds them
// (localaws.PutUser).
func totpPool(ctx context.Context, c apiCaller, env map[string]string, count int) ([]totpUser, error) {
	_, db := localaws.Clients(env["AWS_ENDPOINT_URL_KMS"], env["AWS_ENDPOINT_URL_DYNAMODB"])
	store := dynamo.New(db, dynamo.Tables{Users: env["USERS_TABLE"]})
	run := make([]byte, 4)
	rand.Read(run)
	pool := make([]totpUser, count)
	for i := range pool {
		pw := make([]byte, 16)
		rand.Read(pw)
		u := totpUser{username: fmt.Sprintf("totp-bench-%x-%03d@example.com", run, i)}
		password := hex.EncodeToString(pw)
		if _, err := localaws.PutUser(ctx, store, localaws.User{Username: u.username, Password: password}); err != nil {
			return nil, err
		}
		u.creds, _ = json.Marshal(map[string]string{"username": u.username, "password": password})
		b, err := c.post(ctx, "/auth/login", "", u.creds)
		if err != nil {
			return nil, err
		}
		access, err := accessToken(b)
		if err != nil {
			return nil, err
		}
		label, _ := json.Marshal(map[string]string{"label": u.username})
		if b, err = c.post(ctx, "/auth/mfa/totp", access, label); err != nil {
			return nil, err
		}
		var e struct {
			Secret string `json:"secret"`
		}
		if err := json.Unmarshal(b, &e); err != nil || e.Secret == "" {
			return nil, fmt.Errorf("enrolment of %s: no secret in the answer", u.username)
		}
		u.secret = e.Secret
		u.confirmStep = totpStep(time.Now())
		code, err := totpCode(u.secret, u.confirmStep)
		if err != nil {
			return nil, err
		}
		confirm, _ := json.Marshal(map[string]string{"code": code})
		if _, err := c.post(ctx, "/auth/mfa/totp/confirm", access, confirm); err != nil {
			return nil, fmt.Errorf("confirm the enrolment of %s: %w", u.username, err)
		}
		pool[i] = u
	}
	return pool, nil
}

// totpPeriod is the TOTP time step the service uses (RFC 6238 4.1, X).
const totpPeriod = 30

// totpStep is the RFC 6238 4.2 time step T of t (T0 = 0).
func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// totpLoginStep is the step whose code a login at now sends for a user
// whose enrolment was confirmed with a code of step confirmed: now's, or,
// while now is still in that step, the next one, which the service takes
// within its one step of skew (RFC 6238 5.2); the confirming code's step
// itself is used already and refused.
func totpLoginStep(now time.Time, confirmed int64) int64 {
	return max(totpStep(now), confirmed+1)
}

// totpCode is the code of step for a base32 secret, as an authenticator
// app computes it (github.com/pquerna/otp: HMAC-SHA-1, 6 digits, 30 s).
func totpCode(secret string, step int64) (string, error) {
	code, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0).UTC(),
		totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", fmt.Errorf("TOTP code: %w", err)
	}
	return code, nil
}

func (r *report) writeSignIn(w *mdWriter) {
	s := r.signIn
	if len(s.series) == 0 {
		return
	}
	w.p("## Sign-in through scripts/dev: password, passkey and password + TOTP")
	w.p("")
	w.p("A whole sign-in through the local API gateway (scripts/dev: each function under aws-lambda-rie, local KMS and DynamoDB Local), %d of each after %d warm-ups, interleaved: a password login (argon2id at m=19 MiB, t=2, p=1) next to a passkey sign-in with no username (the options with a new challenge, the assertion of a software P-256 authenticator, then the finish: the challenge consumed, the signature checked, the counter recorded, a session started) and a password + TOTP login. All end in the same session start and one KMS Sign.", s.n, s.warmups)
	w.p("")
	w.p("The password + TOTP login is two requests to the login function. The first does what a password login does (the user read and the attempt counted, argon2id, the count cleared, the user's revocation entry read, the user's second factor read: a password login reads it too and finds none), then stores a single-use challenge under the hash of a random token and answers 403 `mfa_required` with the token (`mfa_token`) instead of tokens. The client computes the current code from the user's secret (RFC 6238: HMAC-SHA-1, 6 digits, 30 s steps; while the step of the code that confirmed the enrolment lasts, the next step's, which the service takes within its one step of skew) and sends it with the token to POST /auth/login/mfa, which reads the challenge and the user's revocation entries (a challenge issued before a cutoff of the user's is dead), counts the attempt against the user's code throttle, reads the factor, opens its sealed secret with one KMS Decrypt (encryption context: purpose and user id), checks the code against the steps within one of now's, records the step with a conditional update (only if later than the last one used: a code is accepted once), clears the attempt count, consumes the challenge with a conditional delete, reads the user again, and starts the session (unless the entries already read cover it). As a code is accepted once per 30-second step per user, each login is of its own user: %d users, each added to the users table as scripts/create-user adds one and enrolled through the API before the timing (a password login, POST /auth/mfa/totp, POST /auth/mfa/totp/confirm with a first code), none of which is timed.", s.totpUsers)
	if s.alone != "" {
		w.p("")
		w.p("%s", s.alone)
	}
	w.p("")
	w.code("go run ./scripts/benchmark -only 'sign-in through scripts/dev'   # or the whole scripts/bench")
	w.header("sign-in", "median", "p90", "× password login")
	for _, row := range signInRows(s) {
		w.row(row...)
	}
	w.p("")
	w.p("The password login's time is mostly argon2id (CPU work, which scales with the function's memory setting); the passkey sign-in spends two gateway round trips and an ECDSA P-256 verification instead; the password + TOTP login spends the password login's argon2id and, on top of it, a second gateway round trip with a KMS Decrypt and the factor's conditional writes. On AWS each DynamoDB and KMS call is a network round trip of a few milliseconds, which local stand-ins do not show.")
	w.p("")
}

// signInRows are the sign-in table's rows, one per series in s.order:
// its median, its 90th percentile and its median over the password
// login's, all from the run.
func signInRows(s signInResult) [][]string {
	base := median(s.series[seriesPasswordLogin])
	var rows [][]string
	for _, name := range s.order {
		v := s.series[name]
		rows = append(rows, []string{name, ms(median(v)), ms(percentile(v, 90)), f2(median(v) / base)})
	}
	return rows
}

// nowMs is the monotonic clock in milliseconds.
func nowMs() float64 { return float64(time.Since(benchEpoch).Nanoseconds()) / 1e6 }

var benchEpoch = time.Now()
