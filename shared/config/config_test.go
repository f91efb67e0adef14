package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessTokenTTL != 15*time.Minute || c.RefreshTokenTTL != 7*24*time.Hour || c.RefreshIdleTimeout != 0 ||
		c.RefreshReuseGrace != 5*time.Second || c.RefreshCookieName != "__Secure-refresh_token" || c.RefreshCookiePath != "/auth" ||
		c.RSASigningAlg != "RS256" || c.LoginMaxFailures != 5 || c.RevocationMode != "replica" ||
		c.RevocationSync != time.Second || c.RevocationMaxStaleness != 5*time.Minute {
		t.Errorf("defaults %+v", c)
	}
	if err := c.Require("ISSUER", "SESSIONS_TABLE"); err == nil || !strings.Contains(err.Error(), "ISSUER") || !strings.Contains(err.Error(), "SESSIONS_TABLE") {
		t.Errorf("Require on empty config: %v", err)
	}
}

// TestShortAccessTokens: a function the template gives no
// REVOCATION_MAX_STALENESS starts with an access token lifetime under its
// 5m default (scripts/dev --param AccessTokenTTL=30s); a value given above
// the lifetime is still refused.
func TestShortAccessTokens(t *testing.T) {
	c, err := config.Load(env(map[string]string{"ACCESS_TOKEN_TTL": "30s"}))
	if err != nil || c.RevocationMaxStaleness != 30*time.Second {
		t.Errorf("ACCESS_TOKEN_TTL 30s alone: staleness %v, %v; want 30s and no error", c.RevocationMaxStaleness, err)
	}
	if _, err := config.Load(env(map[string]string{"ACCESS_TOKEN_TTL": "30s", "REVOCATION_MAX_STALENESS": "5m"})); err == nil {
		t.Error("REVOCATION_MAX_STALENESS above ACCESS_TOKEN_TTL accepted")
	}
}

func TestLoadRefuses(t *testing.T) {
	for name, m := range map[string]map[string]string{
		"bad duration":         {"ACCESS_TOKEN_TTL": "15"},
		"access ttl too long":  {"ACCESS_TOKEN_TTL": "48h"},
		"access ttl fraction":  {"ACCESS_TOKEN_TTL": "90500ms"},
		"revocation mode":      {"REVOCATION_MODE": "eventual"},
		"sync too fast":        {"REVOCATION_SYNC": "10ms"},
		"staleness over ttl":   {"REVOCATION_MAX_STALENESS": "1h"},
		"staleness under sync": {"REVOCATION_SYNC": "2s", "REVOCATION_MAX_STALENESS": "1s"},
		"refresh < access":     {"ACCESS_TOKEN_TTL": "1h", "REFRESH_TOKEN_TTL": "30m"},
		"rsa alg":              {"RSA_SIGNING_ALG": "HS256"},
		"origin with path":     {"ALLOWED_ORIGINS": "https://app.example.com/login"},
		"origin without host":  {"ALLOWED_ORIGINS": "app.example.com"},
		"cookie name":          {"REFRESH_COOKIE_NAME": "a;b"},
		"__Host- with a path":  {"REFRESH_COOKIE_NAME": "__Host-rt", "REFRESH_COOKIE_PATH": "/auth"},
		"max failures":         {"LOGIN_MAX_FAILURES": "0"},
		"totp cap 0":           {"TOTP_MAX_FAILURES": "0"},
		"totp cap over 100":    {"TOTP_MAX_FAILURES": "101"},
		"no feed copy":         {"FEED_COPIES": "0"},
		"feed shards":          {"FEED_SHARDS": "x"},
		"feed slots":           {"FEED_COPIES": "100", "FEED_SHARDS": "100"},
		"grace too long":       {"REFRESH_REUSE_GRACE": "10m"},
		"authorizer timeout 0": {"AUTHORIZER_STORE_TIMEOUT": "0s"},
		"staleness over a ttl": {"ACCESS_TOKEN_TTL": "2m", "REVOCATION_MAX_STALENESS": "5m"},
	} {
		if _, err := config.Load(env(m)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestShortAccessTokenTTL: a function that is not given
// REVOCATION_MAX_STALENESS (every one but the authorizer) starts with an
// ACCESS_TOKEN_TTL under its 5-minute default.
func TestShortAccessTokenTTL(t *testing.T) {
	c, err := config.Load(env(map[string]string{"ACCESS_TOKEN_TTL": "30s"}))
	if err != nil {
		t.Fatalf("ACCESS_TOKEN_TTL 30s without REVOCATION_MAX_STALENESS: %v", err)
	}
	if c.RevocationMaxStaleness != 30*time.Second {
		t.Errorf("REVOCATION_MAX_STALENESS defaults to %s, want the access token lifetime", c.RevocationMaxStaleness)
	}
}

func TestLists(t *testing.T) {
	c, err := config.Load(env(map[string]string{"VERIFY_KEY_IDS": " a, ,b ", "ALLOWED_ORIGINS": "https://a.example,http://localhost:3000"}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.VerifyKeyIDs, "|") != "a|b" || len(c.AllowedOrigins) != 2 {
		t.Errorf("lists %q %q", c.VerifyKeyIDs, c.AllowedOrigins)
	}
}

// TestIssuer: ISSUER is an RFC 8414 section 2 issuer (https, no query or
// fragment) with no trailing slash, since the metadata's URLs are built
// from it; plain http only on this machine (scripts/dev).
func TestIssuer(t *testing.T) {
	for iss, ok := range map[string]bool{
		"https://auth.example.com":                        true,
		"https://auth.example.com/tenant-a":               true,
		"https://abc.execute-api.eu-west-1.amazonaws.com": true,
		"http://127.0.0.1:3000":                           true,
		"http://localhost:3000":                           true,
		"http://auth.example.com":                         false,
		"https://auth.example.com/":                       false,
		"https://auth.example.com?x=1":                    false,
		"https://auth.example.com#f":                      false,
		"https://user@auth.example.com":                   false,
		"auth.example.com":                                false,
		"urn:example:issuer":                              false,
	} {
		_, err := config.Load(env(map[string]string{"ISSUER": iss}))
		if (err == nil) != ok {
			t.Errorf("ISSUER %q: %v, want accepted %v", iss, err, ok)
		}
	}
}

// TestDPoPSettings: DPOP_MODE is optional unless set to off or required,
// DPOP_NONCE off unless required, and anything else fails the start.
func TestDPoPSettings(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil || c.DPoPMode != auth.DPoPOptional || c.DPoPNonce {
		t.Errorf("defaults: mode %v, nonce %v, %v; want optional, false", c.DPoPMode, c.DPoPNonce, err)
	}
	for v, want := range map[string]auth.DPoPMode{"off": auth.DPoPOff, "optional": auth.DPoPOptional, "required": auth.DPoPRequired} {
		c, err := config.Load(env(map[string]string{"DPOP_MODE": v, "DPOP_NONCE": "required"}))
		if err != nil || c.DPoPMode != want || !c.DPoPNonce || c.DPoPMode.String() != v {
			t.Errorf("DPOP_MODE=%s: %v %v, %v", v, c.DPoPMode, c.DPoPNonce, err)
		}
	}
	for _, bad := range []map[string]string{{"DPOP_MODE": "on"}, {"DPOP_MODE": "Required"}, {"DPOP_NONCE": "on"}, {"DPOP_NONCE": "true"}} {
		if _, err := config.Load(env(bad)); err == nil || !strings.Contains(err.Error(), "DPOP_") {
			t.Errorf("%v accepted: %v", bad, err)
		}
	}
}
