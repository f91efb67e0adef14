package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/scripts/localaws"
)

// e2eResult holds latencies in milliseconds, one per request, by series.
type e2eResult struct {
	via     string
	series  map[string][]float64
	order   []string // series in display order; the first is the authorizer
	floor   string   // the series that is the floor (bare GetItem)
	hop     string   // the series that is the transport alone
	cmd     string
	warmups int
	mode    string // the authorizer's REVOCATION_MODE in the run: replica or strict
}

// envValue is the value of k in an environment list ("K=V"), or "".
func envValue(env []string, k string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, k+"="); ok {
			return v
		}
	}
	return ""
}

const (
	seriesAuthorizer = "authorizer"
	seriesGetItem    = "DynamoDB GetItem (floor)"
)

// A step is one timed request of one series.
type step struct {
	series string
	do     func(context.Context) error
}

// timeSteps runs every step n times, rotating the order each round so
// that no series always follows another, after warm-up rounds.
func timeSteps(ctx context.Context, steps []step, warmups, n int) (map[string][]float64, error) {
	out := map[string][]float64{}
	for i := 0; i < warmups+n; i++ {
		for j := range steps {
			s := steps[(i+j)%len(steps)]
			t0 := time.Now()
			if err := s.do(ctx); err != nil {
				return nil, fmt.Errorf("%s, request %d: %w", s.series, i, err)
			}
			if i >= warmups {
				out[s.series] = append(out[s.series], float64(time.Since(t0).Nanoseconds())/1e6)
			}
		}
	}
	return out, nil
}

func runEndToEnd(ctx context.Context, o *options, r *report) error {
	if o.via == "gateway" {
		return runViaGateway(ctx, o, r)
	}
	return runViaRIE(ctx, o, r)
}

// runViaRIE invokes the authorizer bootstrap under aws-lambda-rie with its
// sample event and a valid token, next to a bare DynamoDB GetItem and an
// invoke of the jwks function (the emulator's own hop: no call out).
func runViaRIE(ctx context.Context, o *options, r *report) error {
	stack, err := newStack(ctx, o.root)
	if err != nil {
		return err
	}
	bin := filepath.Join(o.scratch, "host")
	if _, err := buildFunctions(ctx, o, bin, goarchHost()); err != nil {
		return err
	}
	authzEnv := stack.env("authorizer")
	authz, err := startRIE(ctx, filepath.Join(bin, "authorizer"), authzEnv)
	if err != nil {
		return err
	}
	defer authz.stop()
	jwks, err := startRIE(ctx, filepath.Join(bin, "jwks"), stack.env("jwks"))
	if err != nil {
		return err
	}
	defer jwks.stop()

	tok, err := stack.accessToken(ctx)
	if err != nil {
		return err
	}
	ev, err := readEvent(o, "authorizer")
	if err != nil {
		return err
	}
	ev = bytes.ReplaceAll(ev, []byte("REPLACE_WITH_ACCESS_TOKEN"), []byte(tok))
	jev, err := readEvent(o, "jwks")
	if err != nil {
		return err
	}
	steps := []step{
		{seriesAuthorizer, func(ctx context.Context) error {
			b, err := authz.invoke(ctx, ev)
			if err != nil {
				return err
			}
			if !bytes.HasPrefix(b, []byte(`{"isAuthorized":true`)) {
				return fmt.Errorf("not allowed: %s\n%s", b, authz.logs.String())
			}
			return nil
		}},
		{seriesGetItem, stack.getItem},
		{"jwks invoke (emulator hop)", func(ctx context.Context) error {
			b, err := jwks.invoke(ctx, jev)
			if err == nil && !bytes.Contains(b, []byte(`"statusCode":200`)) {
				err = fmt.Errorf("jwks: %s", b)
			}
			return err
		}},
	}
	const warmups = 50
	series, err := timeSteps(ctx, steps, warmups, o.requests)
	if err != nil {
		return err
	}
	r.e2e = e2eResult{via: "aws-lambda-rie", series: series, warmups: warmups, mode: envValue(authzEnv, "REVOCATION_MODE"),
		order: []string{seriesAuthorizer, seriesGetItem, "jwks invoke (emulator hop)"},
		floor: seriesGetItem, hop: "jwks invoke (emulator hop)",
		cmd: fmt.Sprintf("scripts/bench --via rie --requests %d   # the end-to-end step of go run ./scripts/benchmark", o.requests)}
	return nil
}

// runViaGateway starts scripts/dev (the local API gateway: every function
// under aws-lambda-rie behind the HttpApi routes), logs the demo user in,
// and calls GET /me with the access token: API Gateway's path, authorizer
// included. The floor is a GetItem on the same local DynamoDB; GET
// /.well-known/jwks.json (no authorizer) is the gateway's own hop.
func runViaGateway(ctx context.Context, o *options, r *report) error {
	// scripts/dev gives the authorizer the environment of template.yaml
	// with its parameters' defaults: the mode this run measures.
	tplEnv, err := templateEnv(o.root, []string{"authorizer"})
	if err != nil {
		return err
	}
	env, stop, err := startDev(ctx, o, "e2e")
	if err != nil {
		return err
	}
	defer stop()
	api := strings.TrimSuffix(env["API_URL"], "/")
	body, _ := json.Marshal(map[string]string{"username": env["DEMO_USERNAME"], "password": env["DEMO_PASSWORD"]})
	resp, err := client.Post(api+"/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if err != nil || login.AccessToken == "" {
		return fmt.Errorf("login through the gateway: %d %v", resp.StatusCode, err)
	}
	_, db := localaws.Clients(env["AWS_ENDPOINT_URL_KMS"], env["AWS_ENDPOINT_URL_DYNAMODB"])
	get := func(path, bearer string) func(context.Context) error {
		return func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api+path, nil)
			if bearer != "" {
				req.Header.Set("Authorization", "Bearer "+bearer)
			}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("GET %s: %d", path, resp.StatusCode)
			}
			return nil
		}
	}
	steps := []step{
		{"GET /me (authorizer + me)", get("/me", login.AccessToken)},
		{seriesGetItem, func(ctx context.Context) error {
			_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(env["REVOCATIONS_TABLE"]), ConsistentRead: aws.Bool(true),
				Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "jti#nobody"}}})
			return err
		}},
		{"GET /.well-known/jwks.json (gateway hop)", get("/.well-known/jwks.json", "")},
	}
	const warmups = 50
	series, err := timeSteps(ctx, steps, warmups, o.requests)
	if err != nil {
		return err
	}
	r.e2e = e2eResult{via: "the local API gateway (scripts/dev)", series: series, warmups: warmups, mode: tplEnv["authorizer"]["REVOCATION_MODE"],
		order: []string{"GET /me (authorizer + me)", seriesGetItem, "GET /.well-known/jwks.json (gateway hop)"},
		floor: seriesGetItem, hop: "GET /.well-known/jwks.json (gateway hop)",
		cmd: fmt.Sprintf("scripts/bench --requests %d   # the end-to-end step of go run ./scripts/benchmark", o.requests)}
	return nil
}

// startDev runs scripts/dev (fresh state, free ports) with extra
// arguments, waits until it is ready, and returns its endpoints file and a
// function that stops it.
func startDev(ctx context.Context, o *options, name string, args ...string) (map[string]string, func(), error) {
	state := filepath.Join(o.scratch, "dev-"+name)
	args = append([]string{"--port", "0", "--lambda-port", "0", "--kms-port", "0", "--dynamodb-port", "0", "--state", state, "--reset"}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(o.root, "scripts", "dev"), args...)
	cmd.Dir = o.root
	cmd.Env = benchEnv()
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	env, err := waitEndpoints(ctx, filepath.Join(state, "endpoints.env"), &logs)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return env, stop, nil
}

// waitEndpoints waits for scripts/dev's endpoints.env and reads it.
func waitEndpoints(ctx context.Context, path string, logs *bytes.Buffer) (map[string]string, error) {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if env, err := localaws.ReadEnvFile(path); err == nil && env["API_URL"] != "" {
			return env, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("scripts/dev wrote no %s; its output:\n%s", path, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
