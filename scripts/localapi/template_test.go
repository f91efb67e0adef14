package localapi

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestProjectTemplate: the routes, authorizer and functions of the real
// template.yaml, as the local API serves them.
func TestProjectTemplate(t *testing.T) {
	tpl, err := Load(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // route key -> function (authorizer)
		"POST /auth/login":                            "LoginFunction",
		"POST /auth/refresh":                          "RefreshFunction",
		"POST /auth/logout":                           "LogoutFunction",
		"POST /auth/logout-all":                       "LogoutAllFunction (LambdaAuthorizer)",
		"GET /me":                                     "MeFunction (LambdaAuthorizer)",
		"GET /.well-known/jwks.json":                  "JWKSFunction",
		"GET /.well-known/openid-configuration":       "DiscoveryFunction",
		"GET /.well-known/oauth-authorization-server": "DiscoveryFunction",
		"POST /auth/revoke":                           "TokenRevocationFunction",
		"POST /auth/introspect":                       "TokenIntrospectionFunction (AWS_IAM)",
		"GET /auth/sessions":                          "SessionsFunction (LambdaAuthorizer)",
		"DELETE /auth/sessions/{id}":                  "EndSessionFunction (LambdaAuthorizer)",
		"POST /auth/passkeys/register/options":        "PasskeysFunction (LambdaAuthorizer)",
		"POST /auth/passkeys/register":                "PasskeysFunction (LambdaAuthorizer)",
		"GET /auth/passkeys":                          "PasskeysFunction (LambdaAuthorizer)",
		"DELETE /auth/passkeys/{id}":                  "PasskeysFunction (LambdaAuthorizer)",
		"POST /auth/passkey/options":                  "PasskeyLoginFunction",
		"POST /auth/passkey/login":                    "PasskeyLoginFunction",
		"POST /auth/login/mfa":                        "LoginFunction",
		"POST /auth/password":                         "LoginFunction (LambdaAuthorizer)",
		"GET /auth/mfa/totp":                          "TotpFunction (LambdaAuthorizer)",
		"POST /auth/mfa/totp":                         "TotpFunction (LambdaAuthorizer)",
		"POST /auth/mfa/totp/confirm":                 "TotpFunction (LambdaAuthorizer)",
		"DELETE /auth/mfa/totp":                       "TotpFunction (LambdaAuthorizer)",
	}
	got := map[string]string{}
	for _, r := range tpl.Routes {
		v := r.Function
		if r.Authorizer != "" {
			v += " (" + r.Authorizer + ")"
		}
		if r.IAM {
			v += " (AWS_IAM)"
		}
		got[r.Key()] = v
	}
	if len(got) != len(want) {
		t.Errorf("routes %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("route %s -> %q, want %q", k, got[k], v)
		}
	}
	a := tpl.Authorizers["LambdaAuthorizer"]
	if a == nil || a.Function != "AuthorizerFunction" || !a.SimpleResponses || strings.Join(a.IdentityHeaders, ",") != "authorization" {
		t.Errorf("authorizer %+v", a)
	}
	if f := tpl.Functions["LogoutAllFunction"]; f == nil || f.Folder != "logout-all" || f.Timeout != 10 {
		t.Errorf("LogoutAllFunction %+v", f)
	}
	if f := tpl.Functions["LoginFunction"]; f == nil || f.MemorySize != 512 || f.LogFormat != "JSON" || f.LogLevel.Ref != "LogLevel" {
		t.Errorf("LoginFunction %+v: want MemorySize 512 and LoggingConfig from Globals", f)
	}
	for _, id := range []string{"UsersTable", "LoginThrottleTable", "SessionsTable", "RevocationsTable"} {
		if def, ok := tpl.Tables[id]; !ok || len(def.KeySchema) == 0 {
			t.Errorf("table %s: %+v", id, def)
		}
	}
	// The TTL attribute the stores write (shared/dynamo) on every table but Users.
	for id, want := range map[string]string{"UsersTable": "", "LoginThrottleTable": "expires_at", "SessionsTable": "expires_at",
		"RevocationsTable": "expires_at", "RevocationFeedTable": "expires_at", "RevocationSnapshotTable": "expires_at"} {
		if got := tpl.Tables[id].TTLAttribute; got != want {
			t.Errorf("table %s: TTL attribute %q, want %q", id, got, want)
		}
	}
}

const sampleTemplate = `
Parameters:
  Issuer: {Type: String}
  Keys: {Type: CommaDelimitedList, Default: "a,b"}
Globals:
  Function:
    Timeout: 7
    Environment:
      Variables:
        SHARED: from-globals
        OVERRIDDEN: from-globals
  HttpApi:
    Auth:
      DefaultAuthorizer: Guard
      EnableIamAuthorizer: true
      Authorizers:
        Guard:
          FunctionArn: !GetAtt GuardFunction.Arn
          AuthorizerPayloadFormatVersion: "2.0"
          Identity: {Headers: [X-Api-Key]}
Resources:
  ItemsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  GuardFunction:
    Type: AWS::Serverless::Function
  ItemFunction:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 9
      Environment:
        Variables:
          OVERRIDDEN: own
          ISSUER: !Ref Issuer
          TABLE: !Ref ItemsTable
          TABLE_ARN: {"Fn::GetAtt": [ItemsTable, Arn]}
          KEYS: !Join ["|", !Ref Keys]
          BOTH: !Join ["-", [x, !Ref Issuer]]
      Events:
        Get:
          Type: HttpApi
          Properties: {Method: get, Path: "/items/{id}"}
        Any:
          Type: HttpApi
          Properties: {Path: "/files/{proxy+}", Method: ANY, Auth: {Authorizer: NONE}}
        Signed:
          Type: HttpApi
          Properties: {Path: /signed, Method: post, Auth: {Authorizer: AWS_IAM}}
        Catch:
          Type: HttpApi
`

const sampleMakefile = "build-GuardFunction:\n\t$(call go_build,guard)\n\nbuild-ItemFunction:\n\t$(call go_build,item)\n"

// TestParseMergesGlobals: Globals (function settings, variables and the
// implicit HttpApi's authorizer) merged as SAM merges them, intrinsic
// functions resolved with local values.
func TestParseMergesGlobals(t *testing.T) {
	tpl, err := Parse([]byte(sampleTemplate), []byte(sampleMakefile))
	if err != nil {
		t.Fatal(err)
	}
	f := tpl.Functions["ItemFunction"]
	if f.Timeout != 9 || tpl.Functions["GuardFunction"].Timeout != 7 {
		t.Errorf("timeouts %d, %d: want 9 (own), 7 (Globals)", f.Timeout, tpl.Functions["GuardFunction"].Timeout)
	}
	env, err := f.Resolve(map[string]string{"Issuer": "https://i", "Keys": "a,b"},
		map[string]string{"ItemsTable": "items", "ItemsTable.Arn": "arn:items"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"SHARED": "from-globals", "OVERRIDDEN": "own", "ISSUER": "https://i", "TABLE": "items",
		"TABLE_ARN": "arn:items", "KEYS": "a|b", "BOTH": "x-https://i"}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	routes := map[string]string{}
	for _, r := range tpl.Routes {
		routes[r.Key()] = r.Authorizer
		if r.IAM {
			routes[r.Key()] = "AWS_IAM"
		}
	}
	wantRoutes := map[string]string{"GET /items/{id}": "Guard", "ANY /files/{proxy+}": "", "ANY $default": "Guard", "POST /signed": "AWS_IAM"}
	if len(routes) != len(wantRoutes) {
		t.Errorf("routes %v, want %v", routes, wantRoutes)
	}
	for k, v := range wantRoutes {
		if a, ok := routes[k]; !ok || a != v {
			t.Errorf("route %s authorizer %q (present %t), want %q", k, a, ok, v)
		}
	}
	if h := tpl.Authorizers["Guard"].IdentityHeaders; len(h) != 1 || h[0] != "x-api-key" {
		t.Errorf("identity headers %v", h)
	}
}

// TestParseRefusesWhatItCannotServe: a local API that silently skipped
// these would behave unlike the deployed one.
func TestParseRefusesWhatItCannotServe(t *testing.T) {
	cases := map[string]struct{ from, to, makefile, want string }{
		"payload 1.0":           {`Properties: {Method: get, Path: "/items/{id}"}`, `Properties: {Method: get, Path: "/items/{id}", PayloadFormatVersion: "1.0"}`, sampleMakefile, "serves 2.0 only"},
		"unknown authorizer":    {`Properties: {Method: get, Path: "/items/{id}"}`, `Properties: {Method: get, Path: "/items/{id}", Auth: {Authorizer: Nope}}`, sampleMakefile, "authorizer Nope is not defined"},
		"unresolvable":          {`KEYS: !Join ["|", !Ref Keys]`, `KEYS: !Sub "${Keys}"`, sampleMakefile, "are resolved locally"},
		"no Makefile target":    {"", "", "build-GuardFunction:\n\t$(call go_build,guard)\n", "no build-ItemFunction target"},
		"authorizer format 1.0": {`AuthorizerPayloadFormatVersion: "2.0"`, `AuthorizerPayloadFormatVersion: "1.0"`, sampleMakefile, "runs 2.0 authorizers only"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			src := sampleTemplate
			if c.from != "" {
				if !strings.Contains(src, c.from) {
					t.Fatalf("sample has no %q", c.from)
				}
				src = strings.Replace(src, c.from, c.to, 1)
			}
			if _, err := Parse([]byte(src), []byte(c.makefile)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}

func TestResolveMissingReference(t *testing.T) {
	tpl, err := Parse([]byte(sampleTemplate), []byte(sampleMakefile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tpl.Functions["ItemFunction"].Resolve(map[string]string{"Keys": ""}, nil); err == nil {
		t.Error("resolved !Ref Issuer and !Ref ItemsTable without values")
	}
}

func TestTableName(t *testing.T) {
	for id, want := range map[string]string{"UsersTable": "auth-users", "LoginThrottleTable": "auth-login-throttle", "SessionsTable": "auth-sessions"} {
		if got := TableName(id); got != want {
			t.Errorf("TableName(%s) = %s, want %s", id, got, want)
		}
	}
}

// TestEnvJSONIsCurrent: infra/env.json (sam local with Docker) gives every
// function the variables the template declares, with the names scripts/dev
// creates. Regenerate: go run ./scripts/devserver env-json > infra/env.json
func TestEnvJSONIsCurrent(t *testing.T) {
	tpl, err := Load(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	want, err := EnvJSON(tpl)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(repoRoot(t), "infra", "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("infra/env.json is stale; regenerate: go run ./scripts/devserver env-json > infra/env.json\nwant:\n%s", want)
	}
}

// TestDemoUserIsTheSampleEventsUser: scripts/invoke revoke
// events/revoke-user.json ends the demo user's sessions.
func TestDemoUserIsTheSampleEventsUser(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "events", "revoke-user.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), DemoUserID) {
		t.Errorf("events/revoke-user.json does not name %s", DemoUserID)
	}
	b, err = os.ReadFile(filepath.Join(repoRoot(t), "events", "login.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), DemoUsername) || !strings.Contains(string(b), DemoPassword) {
		t.Errorf("events/login.json does not log in the demo user")
	}
}

// TestParseRefusesIAMWithoutEnable: Authorizer AWS_IAM needs the HttpApi's
// EnableIamAuthorizer, as SAM requires.
func TestParseRefusesIAMWithoutEnable(t *testing.T) {
	src := strings.Replace(sampleTemplate, "      EnableIamAuthorizer: true\n", "", 1)
	if _, err := Parse([]byte(src), []byte(sampleMakefile)); err == nil || !strings.Contains(err.Error(), "EnableIamAuthorizer") {
		t.Errorf("AWS_IAM without EnableIamAuthorizer: %v", err)
	}
}

// TestTableStreamAndTTL: a table's StreamSpecification becomes CreateTable's
// (a StreamViewType turns the stream on) and its TimeToLiveSpecification
// the TTL attribute, when Enabled; a table without either has neither.
func TestTableStreamAndTTL(t *testing.T) {
	tpl, err := Parse([]byte(`
Resources:
  Streamed:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
      TimeToLiveSpecification: {AttributeName: expires_at, Enabled: true}
  TTLOff:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: expires_at, Enabled: false}
  Plain:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := tpl.Tables["Streamed"]
	if st := s.StreamSpecification; st == nil || st.StreamEnabled == nil || !*st.StreamEnabled || st.StreamViewType != "NEW_AND_OLD_IMAGES" {
		t.Errorf("Streamed: StreamSpecification %+v, want enabled NEW_AND_OLD_IMAGES", st)
	}
	if s.TTLAttribute != "expires_at" {
		t.Errorf("Streamed: TTL attribute %q, want expires_at", s.TTLAttribute)
	}
	for _, id := range []string{"TTLOff", "Plain"} {
		if tbl := tpl.Tables[id]; tbl.StreamSpecification != nil || tbl.TTLAttribute != "" || len(tbl.KeySchema) != 1 {
			t.Errorf("%s: stream %+v, TTL %q, keys %d: want no stream, no TTL, one key", id, tbl.StreamSpecification, tbl.TTLAttribute, len(tbl.KeySchema))
		}
	}
}
