package localapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// The local stand-ins of what a deploy creates. infra/env.json (sam local
// with Docker) uses the same names, so both ways of running locally share
// one set of tables and one key.
const (
	KeyAlias    = "alias/auth-local-signing"
	MACKeyAlias = "alias/auth-local-mac"
	// TOTPKeyAlias names the symmetric key TOTP secrets are sealed under
	// (TotpKey): functions get the alias itself, which KMS takes for
	// Encrypt and Decrypt.
	TOTPKeyAlias = "alias/auth-local-totp"
	DemoUsername = "alice@example.com"                    // also in events/login.json
	DemoPassword = "correct horse battery staple"         // a local demo account only
	DemoUserID   = "4a6f2c1e-8b3d-4e9a-b7c5-1d2e3f4a5b6c" // the user of events/revoke-user.json
	region       = "us-east-1"
)

// DemoScopes are the demo user's scopes: what /me and the token answers
// show as scope.
var DemoScopes = []string{"read", "write"}

// LocalParams are the stack parameters of a local run: the template's
// defaults, with values for those that have none. api is the base URL of
// the local API (http://127.0.0.1:3000): it is the Issuer, because the
// metadata document lists the endpoints as the issuer followed by their
// routes and clients fetch them there; and its origins (127.0.0.1 and
// localhost on its port) with https://app.example.com may use the refresh
// cookie. overrides are parameter values given by the user (scripts/dev
// --param Name=Value).
func LocalParams(t *Template, api string, overrides ...map[string]string) map[string]string {
	p := map[string]string{}
	for k, v := range t.Parameters {
		p[k] = v.Default
	}
	origins := []string{"https://app.example.com"}
	if u, err := url.Parse(api); err == nil && u.Port() != "" {
		origins = []string{"http://127.0.0.1:" + u.Port(), "http://localhost:" + u.Port(), "https://app.example.com"}
	}
	p["Issuer"] = strings.TrimSuffix(api, "/")
	p["Audience"] = "https://api.example.com"
	// Passkeys: a browser accepts no IP address as an RP ID (WebAuthn L3
	// 5.1.3), so locally they work on http://localhost:PORT only.
	p["PasskeyRpId"] = "localhost"
	p["PasskeyOrigins"] = "http://localhost"
	if u, err := url.Parse(api); err == nil && u.Port() != "" {
		p["PasskeyOrigins"] = "http://localhost:" + u.Port()
	}
	all := slices.Clone(origins)
	for _, o := range overrides {
		for k, v := range o {
			p[k] = v
		}
		for _, origin := range splitList(o["AllowedOrigins"]) {
			if !slices.Contains(all, origin) {
				all = append(all, origin)
			}
		}
	}
	p["AllowedOrigins"] = strings.Join(all, ",")
	return p
}

var wordStart = regexp.MustCompile(`([a-z0-9])([A-Z])`)

// TableName is the local name of a table: UsersTable -> auth-users,
// LoginThrottleTable -> auth-login-throttle.
func TableName(logicalID string) string {
	base := strings.TrimSuffix(logicalID, "Table")
	return "auth-" + strings.ToLower(wordStart.ReplaceAllString(base, "$1-$2"))
}

// LocalResources are the local values of !Ref and !GetAtt: table names, the
// signing key and the HMAC key (their ARNs, or the aliases where the ARNs
// are not known yet).
func LocalResources(t *Template, signingKey, macKey string) map[string]string {
	r := map[string]string{"SigningKey": signingKey, "SigningKey.Arn": signingKey,
		"TokenMacKey": macKey, "TokenMacKey.Arn": macKey, "TotpKey": TOTPKeyAlias, "TotpKey.Arn": TOTPKeyAlias}
	for id := range t.Tables {
		r[id] = TableName(id)
		r[id+".Arn"] = "arn:aws:dynamodb:" + region + ":000000000000:table/" + TableName(id)
	}
	return r
}

// EndpointVariables are the template's empty AWS_ENDPOINT_URL_<SERVICE>
// variables, which a local run fills in.
func EndpointVariables(kms, dynamodb string) map[string]string {
	return map[string]string{"AWS_ENDPOINT_URL_KMS": kms, "AWS_ENDPOINT_URL_DYNAMODB": dynamodb}
}

// FunctionEnv is a function's whole local environment: the template's
// variables resolved (endpoints overridden only where the template declares
// them, as `sam local --env-vars` does), the log level, and the variables
// Lambda itself sets (region, credentials).
func FunctionEnv(t *Template, f *Function, params, resources, endpoints map[string]string) (map[string]string, error) {
	env, err := f.Resolve(params, resources)
	if err != nil {
		return nil, err
	}
	for k, v := range endpoints {
		if _, declared := env[k]; declared {
			env[k] = v
		}
	}
	if f.LogLevel != (Value{}) {
		lvl, err := f.LogLevel.resolve(params, resources)
		if err != nil {
			return nil, fmt.Errorf("%s: LoggingConfig.ApplicationLogLevel: %w", f.ID, err)
		}
		env["AWS_LAMBDA_LOG_LEVEL"] = lvl
	}
	env["AWS_REGION"], env["AWS_DEFAULT_REGION"] = region, region
	env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = "local", "local"
	return env, nil
}

// EnvJSON is infra/env.json: the variables of every function for
// `sam local invoke --env-vars` and `sam local start-api --env-vars`, with
// the endpoints at host.docker.internal (scripts/dev's default ports).
func EnvJSON(t *Template) ([]byte, error) {
	// The issuer is scripts/dev's API on its default port, whose metadata
	// names the endpoints; origins of scripts/dev (3000) and of sam local
	// start-api beside it (3001).
	params := LocalParams(t, "http://127.0.0.1:3000", map[string]string{"AllowedOrigins": strings.Join([]string{
		"http://127.0.0.1:3000", "http://localhost:3000", "http://127.0.0.1:3001", "http://localhost:3001", "https://app.example.com"}, ",")})
	resources := LocalResources(t, KeyAlias, MACKeyAlias)
	out := map[string]map[string]string{
		"Parameters": {
			"AWS_ENDPOINT_URL_KMS":      "http://host.docker.internal:4599",
			"AWS_ENDPOINT_URL_DYNAMODB": "http://host.docker.internal:4567",
			"AWS_REGION":                region,
			"AWS_DEFAULT_REGION":        region,
			"AWS_ACCESS_KEY_ID":         "local",
			"AWS_SECRET_ACCESS_KEY":     "local",
		},
	}
	for id, f := range t.Functions {
		env, err := f.Resolve(params, resources)
		if err != nil {
			return nil, err
		}
		for k := range out["Parameters"] {
			delete(env, k) // from Parameters, for every function that declares it
		}
		out[id] = env
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
