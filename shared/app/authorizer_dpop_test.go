package app_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/authkit/lambda-auth/scripts/dpopclient"
	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
	"github.com/authkit/lambda-auth/shared/app"
	"github.com/authkit/lambda-auth/shared/kmssign"
	"github.com/authkit/lambda-auth/shared/token"
)

// dpopURL is the public URL of events/authorizer.json's request.
const dpopURL = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/me"

// mintToken signs an access token with env's key, as login issues one at
// now, bound to jkt when not "" (cnf.jkt, RFC 9449 6.1).
func mintToken(t testing.TB, env *testenv.Env, jkt string, now time.Time) string {
	t.Helper()
	ctx := context.Background()
	k, err := kmssign.New(ctx, env.KMS, env.KeyID, "RS256")
	if err != nil {
		t.Fatal(err)
	}
	sid := make([]byte, 24)
	binary.BigEndian.PutUint64(sid, uint64(now.Add(-time.Minute).UnixMilli()))
	rand.Read(sid[8:])
	c := &token.Claims{SessionID: base64.RawURLEncoding.EncodeToString(sid), ClientID: "web", Scope: "read"}
	c.Issuer, c.Subject, c.ID = env.Getenv("ISSUER"), "usr_dpop", base64.RawURLEncoding.EncodeToString(sid[8:])
	c.Audience = []string{env.Getenv("AUDIENCE")}
	c.IssuedAt, c.ExpiresAt = token.NumericDate(now), token.NumericDate(now.Add(10*time.Minute))
	if jkt != "" {
		c.Confirmation = &token.Confirmation{JKT: jkt}
	}
	raw, err := token.Issue(ctx, k, c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// dpopEvent is events/authorizer.json (HTTP API, payload 2.0) with
// "Authorization: DPoP tok" and the proof in its DPoP header.
func dpopEvent(t testing.TB, tok, proof string) []byte {
	t.Helper()
	return testenv.Event(t, "authorizer", `"authorization": "Bearer REPLACE_WITH_ACCESS_TOKEN"`,
		`"authorization": "DPoP `+tok+`", "dpop": "`+proof+`"`, "Bearer REPLACE_WITH_ACCESS_TOKEN", "DPoP "+tok)
}

// newAuthorizer is one authorizer container: its own memory (verified
// token cache, replica, per-process replay record).
func newAuthorizer(t testing.TB, env *testenv.Env, logs io.Writer) apigw.AuthorizerHandler {
	t.Helper()
	h, err := app.Authorizer(context.Background(), env.Getenv, app.WithMetrics(io.Discard),
		app.WithLogger(slog.New(slog.NewJSONHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func isAllowed(t testing.TB, h apigw.AuthorizerHandler, ev []byte) bool {
	t.Helper()
	out, err := h(context.Background(), ev)
	if err != nil {
		return false
	}
	r, ok := out.(events.APIGatewayV2CustomAuthorizerSimpleResponse)
	if !ok {
		t.Fatalf("authorizer answered %T", out)
	}
	return r.IsAuthorized
}

// TestDPoPReplayAcrossAuthorizers: two authorizer containers (separate
// memories) over one DynamoDB Local. With DPOP_REPLAY shared (the
// default) a proof one accepted is refused by the other (RFC 9449 11.1
// across the fleet); with DPOP_REPLAY process each accepts it once, the
// bound SECURITY.md states for that setting.
func TestDPoPReplayAcrossAuthorizers(t *testing.T) {
	env := testenv.New(t)
	client, err := dpopclient.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	tok := mintToken(t, env, client.JKT(), time.Now())
	logs := &testenv.LogBuffer{}
	a, b := newAuthorizer(t, env, logs), newAuthorizer(t, env, logs)

	proof := dpopEvent(t, tok, client.Proof("GET", dpopURL, tok, time.Now()))
	if !isAllowed(t, a, proof) {
		t.Fatalf("first use refused; logs:\n%s", logs)
	}
	if isAllowed(t, b, proof) {
		t.Error("shared: the proof replayed at another container was accepted")
	}
	if isAllowed(t, a, proof) {
		t.Error("shared: the proof replayed at the same container was accepted")
	}
	if !isAllowed(t, b, dpopEvent(t, tok, client.Proof("GET", dpopURL, tok, time.Now()))) {
		t.Errorf("shared: a new proof refused; logs:\n%s", logs)
	}
	if strings.Contains(logs.String(), tok) {
		t.Error("a log line holds the access token")
	}

	env.Set("DPOP_REPLAY", "process")
	c, d := newAuthorizer(t, env, logs), newAuthorizer(t, env, logs)
	proof = dpopEvent(t, tok, client.Proof("GET", dpopURL, tok, time.Now()))
	if !isAllowed(t, c, proof) || !isAllowed(t, d, proof) {
		t.Errorf("process: a proof is accepted once per container, here not; logs:\n%s", logs)
	}
	if isAllowed(t, c, proof) || isAllowed(t, d, proof) {
		t.Error("process: the proof replayed at a container that accepted it was accepted")
	}
}

// TestDPoPReplayTableDownDenies: with the replay table not answering
// (DynamoDB Local behind a proxy failing PutItem on it), a DPoP request is
// denied (fail closed), while a bearer request, which does not use it, is
// allowed.
func TestDPoPReplayTableDownDenies(t *testing.T) {
	env := testenv.New(t)
	client, err := dpopclient.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	bound, plain := mintToken(t, env, client.JKT(), time.Now()), mintToken(t, env, "", time.Now())
	proxy := testenv.NewFaultProxy(t, os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.URL)
	env.Set("AUTHORIZER_STORE_TIMEOUT", "300ms")
	logs := &testenv.LogBuffer{}
	h := newAuthorizer(t, env, logs)
	for _, mode := range []testenv.Mode{testenv.Error, testenv.Hang} {
		proxy.Set(testenv.Fault{Mode: mode, Op: "PutItem", Table: env.ProofReplayTable})
		if isAllowed(t, h, dpopEvent(t, bound, client.Proof("GET", dpopURL, bound, time.Now()))) {
			t.Errorf("%s: a DPoP request allowed with the replay table down", mode)
		}
		if !isAllowed(t, h, fixture(t, "authorizer", "REPLACE_WITH_ACCESS_TOKEN", plain)) {
			t.Errorf("%s: a bearer request denied; logs:\n%s", mode, logs)
		}
	}
	if !strings.Contains(logs.String(), "unavailable") {
		t.Errorf("the denials do not say a store is unavailable:\n%s", logs)
	}
	proxy.Reset()
	if !isAllowed(t, h, dpopEvent(t, bound, client.Proof("GET", dpopURL, bound, time.Now()))) {
		t.Errorf("the table back: a DPoP request refused; logs:\n%s", logs)
	}
}

// TestDPoPLoginToAuthorizer: end to end through the functions' wiring, a
// login with a proof (the token endpoint side) gives a bound access
// token, which the authorizer takes with a proof of the same key, refuses
// as a bearer token (RFC 9449 7.2), refuses with the proof replayed (11.1)
// and refuses with another key's proof (6.1).
func TestDPoPLoginToAuthorizer(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "dpop-e2e", "a long enough password", "read")
	s := newService(t, env)
	c, other := newDPoPClient(t), newDPoPClient(t)
	now := s.clock.Now
	resp := call(t, s.login, withProof(loginBody(t, "dpop-e2e", "a long enough password"), c.proof(t, "POST", loginURL, now(), nil)))
	access := wantTokens(t, "login with a proof", resp, "DPoP", c.JKT()).AccessToken
	withATH := withClaim("ath", dpopclient.ATH(access))
	az := apigw.AuthorizerHandler(s.authorizer)

	proof := dpopEvent(t, access, c.proof(t, "GET", dpopURL, now(), withATH))
	if !isAllowed(t, az, proof) {
		t.Fatalf("the bound token with its proof refused; logs:\n%s", s.logs)
	}
	if isAllowed(t, az, proof) {
		t.Error("the same proof again accepted")
	}
	if isAllowed(t, az, fixture(t, "authorizer", "REPLACE_WITH_ACCESS_TOKEN", access)) {
		t.Error("the bound token accepted as a bearer token")
	}
	if isAllowed(t, az, dpopEvent(t, access, other.proof(t, "GET", dpopURL, now(), withATH))) {
		t.Error("the bound token accepted with another key's proof")
	}
	if !isAllowed(t, az, dpopEvent(t, access, c.proof(t, "GET", dpopURL, now(), withATH))) {
		t.Errorf("a new proof refused; logs:\n%s", s.logs)
	}
}

// TestDPoPRequiredDeniesUnboundTokens: DPOP_MODE required reaches the
// authorizer: an access token bound to no key (minted before the switch
// to required) is denied as Bearer, which optional allows, and as DPoP;
// a bound token with its proof is allowed in both modes (RFC 9449 7.1,
// 7.2), for the HTTP API's and the REST API's events.
func TestDPoPRequiredDeniesUnboundTokens(t *testing.T) {
	env := testenv.New(t)
	client, err := dpopclient.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	bound, plain := mintToken(t, env, client.JKT(), time.Now()), mintToken(t, env, "", time.Now())
	for _, mode := range []string{"optional", "required"} {
		env.Set("DPOP_MODE", mode)
		logs := &testenv.LogBuffer{}
		az := newAuthorizer(t, env, logs)
		if !isAllowed(t, az, dpopEvent(t, bound, client.Proof("GET", dpopURL, bound, time.Now()))) {
			t.Errorf("%s: a bound token with its proof denied; logs:\n%s", mode, logs)
		}
		if got, want := isAllowed(t, az, fixture(t, "authorizer", "REPLACE_WITH_ACCESS_TOKEN", plain)), mode == "optional"; got != want {
			t.Errorf("%s: an unbound token as Bearer allowed %v, want %v; logs:\n%s", mode, got, want, logs)
		}
		_, err := az(context.Background(), fixture(t, "authorizer-rest-token", "REPLACE_WITH_ACCESS_TOKEN", plain))
		if got, want := err == nil, mode == "optional"; got != want {
			t.Errorf("%s: an unbound token at a REST TOKEN authorizer: error %v, want allowed %v", mode, err, want)
		}
		if isAllowed(t, az, dpopEvent(t, plain, client.Proof("GET", dpopURL, plain, time.Now()))) {
			t.Errorf("%s: an unbound token as DPoP allowed", mode)
		}
		if mode == "required" && !strings.Contains(logs.String(), "bound to no key") {
			t.Errorf("required: the denial's log line does not say why:\n%s", logs)
		}
	}
}
