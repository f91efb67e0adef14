package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/shared/app"
	"github.com/authkit/lambda-auth/shared/kmssign"
	"github.com/authkit/lambda-auth/shared/token"
)

// rotateKey is scripts/rotate-key: the key rotation runbook
// (infra/runbooks/key-rotation.md), step by step, against the local stack. Each "deploy"
// of the runbook is a restart of scripts/dev with the runbook's parameters
// (every function starts again with its new configuration, as Lambda
// replaces execution environments on a deployment); each wait is the
// runbook's wait; after each step it checks what the step promises,
// through the local API, and stops at the first broken promise.
func rotateKey(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("scripts/rotate-key", flag.ContinueOnError)
	state := fs.String("state", ".local/dev", "the state folder of scripts/dev whose signing key is rotated")
	publishWait := fs.Duration("publish-wait", app.JWKSMaxAge,
		"step 1 to step 2: how long the new key is published before it signs (the JWKS max-age: every cached JWKS then holds it)")
	params := paramFlag{}
	fs.Var(params, "param", "a stack parameter for every scripts/dev start, Name=Value (repeatable), e.g. --param AccessTokenTTL=2m")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, p := range []string{"PreviousSigningKeyIds", "SignWithKeyId"} {
		if _, ok := params[p]; ok {
			return fmt.Errorf("--param %s: rotate-key sets it at each step", p)
		}
	}
	root, tpl, err := loadTemplate(params)
	if err != nil {
		return err
	}
	// The issuer is the local API's URL (known once scripts/dev is up)
	// unless --param Issuer gives one.
	stack := localapi.LocalParams(tpl, "", params)
	ttl, err1 := time.ParseDuration(stack["AccessTokenTTL"])
	leeway, err2 := time.ParseDuration(stack["ClockLeeway"])
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	stateDir, err := filepath.Abs(*state)
	if err != nil {
		return err
	}
	r := &rehearsal{root: root, state: stateDir, params: params, passThrough: fs.Args(),
		issuer: stack["Issuer"], audience: stack["Audience"], rsaAlg: stack["RsaSigningAlgorithm"],
		spec: kmstypes.KeySpec(stack["SigningKeySpec"]), http: &http.Client{Timeout: 30 * time.Second}}
	defer r.stop()
	return r.run(ctx, *publishWait, ttl, leeway)
}

// rehearsal is one run of the runbook against one state folder.
type rehearsal struct {
	root, state        string
	params             paramFlag
	passThrough        []string // scripts/dev options after --
	issuer, audience   string
	apiPort            string // the local API's port from the first start on
	rsaAlg             string
	spec               kmstypes.KeySpec
	http               *http.Client
	dev                *exec.Cmd
	exited             chan struct{}
	vars               map[string]string
	authzLog           int64 // bytes of the authorizer's log already read
	oldKey, newKey     string
	oldKID, newKID     string
	kms                *kms.Client
	step               string
	signingMovedAt     time.Time
	demoUser, demoPass string
}

func (r *rehearsal) say(format string, a ...any) {
	fmt.Printf("rotate-key: %s: %s\n", r.step, fmt.Sprintf(format, a...))
}

func (r *rehearsal) run(ctx context.Context, publishWait, ttl, leeway time.Duration) error {
	// Before: the stack as it runs, signing with its key.
	r.step = "before"
	if err := r.deploy(ctx, nil); err != nil {
		return err
	}
	r.oldKey = r.vars["SIGNING_KEY_ID"]
	t0, err := r.login(ctx)
	if err != nil {
		return err
	}
	r.oldKID = kid(t0)
	if err := r.expect(ctx, t0, true, ""); err != nil {
		return err
	}
	r.say("the stack signs with %s (kid %s)", r.oldKey, r.oldKID)

	// Step 1: a new key, published and trusted; the old key keeps signing.
	// On AWS: the deploy that replaces SigningKey, with PreviousSigningKeyIds
	// and SignWithKeyId set to the old key's ARN.
	r.step = "step 1 (new key, published and trusted; the old key still signs)"
	// The deploy creates the key and moves the alias before it updates the
	// functions: running ones keep the key they resolved at init.
	if r.newKey, err = r.replaceKey(ctx); err != nil {
		return err
	}
	r.stopDev()
	if err := r.deploy(ctx, map[string]string{"PreviousSigningKeyIds": r.oldKey, "SignWithKeyId": r.oldKey}); err != nil {
		return err
	}
	if r.vars["SIGNING_KEY_ID"] != r.newKey {
		return fmt.Errorf("%s: the stack's SigningKey is %s, want the new key %s", r.step, r.vars["SIGNING_KEY_ID"], r.newKey)
	}
	kids, err := r.jwks(ctx)
	if err != nil {
		return err
	}
	signer, err := kmssign.New(ctx, r.kms, r.newKey, r.rsaAlg)
	if err != nil {
		return err
	}
	r.newKID = signer.KeyID()
	if !sameSet(kids, []string{r.oldKID, r.newKID}) {
		return fmt.Errorf("%s: the JWKS publishes %q, want both keys %q", r.step, kids, []string{r.oldKID, r.newKID})
	}
	r.say("the JWKS publishes both keys: %s", strings.Join(kids, ", "))
	t1, err := r.login(ctx)
	if err != nil {
		return err
	}
	if kid(t1) != r.oldKID {
		return fmt.Errorf("%s: a new token is signed by kid %s, want the old key %s (signing moves in step 2)", r.step, kid(t1), r.oldKID)
	}
	if err := errors.Join(r.expect(ctx, t0, true, ""), r.expect(ctx, t1, true, "")); err != nil {
		return err
	}
	r.say("login still signs with the old key; tokens of the old key are allowed")
	r.say("waiting %s (JWKS max-age: every cached JWKS now learns the new key)", publishWait)
	if err := sleep(ctx, publishWait); err != nil {
		return err
	}

	// Step 2: signing moves to the new key; the old one is still trusted.
	r.step = "step 2 (signing moves to the new key)"
	r.stopDev()
	if err := r.deploy(ctx, map[string]string{"PreviousSigningKeyIds": r.oldKey}); err != nil {
		return err
	}
	r.signingMovedAt = time.Now()
	t2, err := r.login(ctx)
	if err != nil {
		return err
	}
	if kid(t2) != r.newKID {
		return fmt.Errorf("%s: a new token is signed by kid %s, want the new key %s", r.step, kid(t2), r.newKID)
	}
	if kids, err = r.jwks(ctx); err != nil {
		return err
	}
	if !sameSet(kids, []string{r.oldKID, r.newKID}) {
		return fmt.Errorf("%s: the JWKS publishes %q, want both keys", r.step, kids)
	}
	for _, tok := range []string{t0, t1, t2} {
		if err := r.expect(ctx, tok, true, ""); err != nil {
			return err
		}
	}
	r.say("new tokens carry the new kid; tokens of the old key keep working")

	// The wait of step 3: the last token of the old key expires.
	r.step = "step 3 wait (the old key's last token expires)"
	exp := expiry(t1)
	if err := sleep(ctx, time.Until(exp.Add(-2*time.Second))); err != nil {
		return err
	}
	if err := r.expect(ctx, t1, true, ""); err != nil {
		return fmt.Errorf("%w (2 s before it expires)", err)
	}
	r.say("the old key's last token works 2 s before its exp")
	until := r.signingMovedAt.Add(ttl + leeway + time.Second)
	if e := exp.Add(leeway + time.Second); e.After(until) {
		until = e
	}
	r.say("waiting until AccessTokenTTL + ClockLeeway after step 2 (%s)", until.Format(time.TimeOnly))
	if err := sleep(ctx, time.Until(until)); err != nil {
		return err
	}
	if err := r.expect(ctx, t1, false, "token: expired"); err != nil {
		return err
	}
	r.say("the old key's last token is refused: expired")
	// A token the old key signs now (whoever still holds that key could)
	// is accepted while the key is trusted, and remembered by the
	// authorizer's verified-token cache.
	forged, err := r.signWithOldKey(ctx, ttl)
	if err != nil {
		return err
	}
	if err := r.expect(ctx, forged, true, ""); err != nil {
		return err
	}
	r.say("a fresh token signed by the old key is still allowed (the key is still trusted)")

	// Step 3: the old key is dropped.
	r.step = "step 3 (the old key is dropped)"
	r.stopDev()
	if err := r.deploy(ctx, nil); err != nil {
		return err
	}
	if kids, err = r.jwks(ctx); err != nil {
		return err
	}
	if !sameSet(kids, []string{r.newKID}) {
		return fmt.Errorf("%s: the JWKS publishes %q, want only the new key %s", r.step, kids, r.newKID)
	}
	if err := r.expect(ctx, forged, false, "token: unknown kid"); err != nil {
		return err
	}
	t3, err := r.login(ctx)
	if err != nil {
		return err
	}
	if kid(t3) != r.newKID {
		return fmt.Errorf("%s: a new token is signed by kid %s, want the new key %s", r.step, kid(t3), r.newKID)
	}
	if err := r.expect(ctx, t3, true, ""); err != nil {
		return err
	}
	r.say("the JWKS publishes only the new key; the old key's unexpired token is refused (unknown kid); login signs with the new key, its tokens are allowed")

	// After: the old key is scheduled for deletion (on AWS it is retained
	// by DeletionPolicy: schedule it yourself).
	r.step = "after"
	if _, err := r.kms.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(r.oldKey), PendingWindowInDays: aws.Int32(7)}); err != nil {
		r.say("could not schedule the old key's deletion (%v): it stays in the local KMS, unused", err)
	} else {
		r.say("the old key %s is scheduled for deletion", r.oldKey)
	}
	r.say("done: the local stack signs with %s (kid %s)", r.newKey, r.newKID)
	return nil
}

// deploy starts scripts/dev on the state folder with the rehearsal's
// parameters and these, and waits until it is up.
func (r *rehearsal) deploy(ctx context.Context, rotation map[string]string) error {
	args := []string{"run", "--state", r.state}
	names := sortedKeys(r.params)
	for _, k := range names {
		args = append(args, "--param", k+"="+r.params[k])
	}
	for _, k := range sortedKeys(rotation) {
		args = append(args, "--param", k+"="+rotation[k])
	}
	args = append(args, r.passThrough...)
	if r.apiPort != "" {
		// A deployment keeps its URL, and so its issuer: the tokens
		// issued before the step carry it (the last --port wins).
		args = append(args, "--port", r.apiPort)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// Beside the state folder: scripts/dev refuses a state folder it did
	// not create.
	logPath := r.state + ".rotate-key.log"
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	fmt.Fprintf(out, "\n=== %s: devserver %s\n", r.step, strings.Join(args, " "))
	r.dev = exec.Command(self, args...)
	r.dev.Dir = r.root
	r.dev.Stdout, r.dev.Stderr = out, out
	if err := r.dev.Start(); err != nil {
		return err
	}
	r.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		close(done)
	}(r.dev, r.exited)
	envFile := filepath.Join(r.state, localaws.EndpointsFile)
	deadline := time.After(3 * time.Minute)
	for {
		if vars, err := localaws.ReadEnvFile(envFile); err == nil {
			r.vars = vars
			r.demoUser, r.demoPass = vars["DEMO_USERNAME"], vars["DEMO_PASSWORD"]
			r.kms, _ = localaws.Clients(vars["AWS_ENDPOINT_URL_KMS"], vars["AWS_ENDPOINT_URL_DYNAMODB"])
			fi, err := os.Stat(filepath.Join(r.state, "logs", "AuthorizerFunction.log"))
			if err == nil {
				r.authzLog = fi.Size()
			}
			if u, err := url.Parse(vars["API_URL"]); err == nil && r.apiPort == "" {
				r.apiPort = u.Port()
			}
			r.say("scripts/dev is up at %s (log: %s)", vars["API_URL"], logPath)
			return nil
		}
		select {
		case <-r.exited:
			return fmt.Errorf("%s: scripts/dev exited before it was ready; the end of its output (%s):\n%s", r.step, logPath, tail(logPath, 8))
		case <-deadline:
			return fmt.Errorf("%s: scripts/dev not ready after 3 minutes; its output: %s", r.step, logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stopDev is Ctrl-C to scripts/dev, then waits for it: every function
// stops, and the next deploy starts them with their new configuration.
func (r *rehearsal) stopDev() {
	if r.dev == nil {
		return
	}
	r.dev.Process.Signal(os.Interrupt)
	select {
	case <-r.exited:
	case <-time.After(20 * time.Second):
		r.dev.Process.Kill()
		<-r.exited
	}
	r.dev = nil
}

func (r *rehearsal) stop() { r.stopDev() }

// replaceKey is what a deploy that replaces the SigningKey resource does:
// a new key of the stack's spec, and the stack's alias moved to it.
func (r *rehearsal) replaceKey(ctx context.Context) (string, error) {
	arn, err := localaws.CreateKey(ctx, r.kms, r.spec, "lambda-auth local signing key (scripts/dev, rotated by scripts/rotate-key)")
	if err != nil {
		return "", err
	}
	if _, err := r.kms.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String(localapi.KeyAlias), TargetKeyId: aws.String(arn)}); err != nil {
		return "", fmt.Errorf("move %s to the new key: %w", localapi.KeyAlias, err)
	}
	r.say("new key %s; %s now names it", arn, localapi.KeyAlias)
	return arn, nil
}

// login signs the demo user in and returns the access token.
func (r *rehearsal) login(ctx context.Context) (string, error) {
	body, _ := json.Marshal(map[string]any{"username": r.demoUser, "password": r.demoPass, "refresh_token_in_body": true})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.vars["API_URL"]+"/auth/login", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s: login: %w", r.step, err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil || out.AccessToken == "" {
		return "", fmt.Errorf("%s: login: %d %s", r.step, resp.StatusCode, b)
	}
	return out.AccessToken, nil
}

// expect calls GET /me with tok: allowed (200) or denied (403), and when
// denied, the authorizer's deny line says why.
func (r *rehearsal) expect(ctx context.Context, tok string, allowed bool, why string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.vars["API_URL"]+"/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: GET /me: %w", r.step, err)
	}
	resp.Body.Close()
	what := fmt.Sprintf("a token of kid %s (exp %s)", kid(tok), expiry(tok).Format(time.TimeOnly))
	switch {
	case allowed && resp.StatusCode != 200:
		return fmt.Errorf("%s: %s: GET /me answered %d, want 200", r.step, what, resp.StatusCode)
	case !allowed && resp.StatusCode != 403:
		return fmt.Errorf("%s: %s: GET /me answered %d, want 403 (the authorizer denies)", r.step, what, resp.StatusCode)
	case !allowed:
		// The deny line reaches the log apart from the answer: give it a moment.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if strings.Contains(r.newAuthorizerLog(), why) {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: %s was denied, but the authorizer's log does not say %q", r.step, what, why)
			}
		}
	}
	return nil
}

func (r *rehearsal) newAuthorizerLog() string {
	f, err := os.Open(filepath.Join(r.state, "logs", "AuthorizerFunction.log"))
	if err != nil {
		return ""
	}
	defer f.Close()
	f.Seek(r.authzLog, io.SeekStart)
	b, _ := io.ReadAll(f)
	return string(b)
}

// jwks returns the kids the JWKS endpoint publishes.
func (r *rehearsal) jwks(ctx context.Context) ([]string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.vars["API_URL"]+"/.well-known/jwks.json", nil)
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: JWKS: %w", r.step, err)
	}
	defer resp.Body.Close()
	var doc token.JWKS
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: JWKS: %d %v", r.step, resp.StatusCode, err)
	}
	var kids []string
	for _, k := range doc.Keys {
		kids = append(kids, k.Kid)
	}
	return kids, nil
}

// signWithOldKey signs, with the old key in local KMS, a token that is
// valid in every other respect: the demo user, a session id of the
// service's form, a lifetime of AccessTokenTTL from now.
func (r *rehearsal) signWithOldKey(ctx context.Context, ttl time.Duration) (string, error) {
	issuer := r.issuer
	if issuer == "" {
		issuer = strings.TrimSuffix(r.vars["API_URL"], "/")
	}
	return localaws.AccessToken(ctx, r.kms, r.oldKey, r.rsaAlg, localaws.Token{
		Issuer: issuer, Audience: r.audience, Subject: localapi.DemoUserID, TTL: ttl})
}

// kid and expiry read a token's header and payload (the token is ours:
// no checks here, the authorizer does them).
func kid(tok string) string {
	var h struct {
		Kid string `json:"kid"`
	}
	b, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	json.Unmarshal(b, &h)
	return h.Kid
}

func expiry(tok string) time.Time {
	var p struct {
		Exp int64 `json:"exp"`
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(b, &p)
	return time.Unix(p.Exp, 0)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
