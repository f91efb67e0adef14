// Package config reads the service's settings from the environment once, at
// init, and fails loudly on anything it cannot use.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
)

// Config is every setting of the service. Each function uses a subset and
// checks the ones it needs with Require.
type Config struct {
	Issuer   string
	Audience string
	ClientID string

	SigningKeyID string   // KMS key id, ARN or alias/...: the key that signs new tokens
	VerifyKeyIDs []string // previous keys still accepted during a rotation
	// SignWithKeyID (SIGN_WITH_KEY_ID), for login and refresh: during the
	// first step of a key rotation, the previous key, which keeps signing
	// while the new SigningKeyID is published and trusted everywhere.
	// Empty: SigningKeyID signs.
	SignWithKeyID string
	RSASigningAlg string // RS256 or PS256, for RSA keys
	MACKeyID      string // KMS HMAC_256 key the functions derive their keyed-hash secret from
	// TOTPKeyID (TOTP_KEY_ID) is the symmetric KMS key TOTP secrets are
	// encrypted under (kmssign.SecretBox).
	TOTPKeyID string

	AccessTokenTTL     time.Duration
	RefreshTokenTTL    time.Duration // absolute session lifetime; rotation never extends it
	RefreshIdleTimeout time.Duration // 0: no idle timeout
	RefreshReuseGrace  time.Duration
	ClockLeeway        time.Duration

	UsersTable          string
	LoginThrottleTable  string
	SessionsTable       string
	RevocationsTable    string
	RevocationFeedTable string
	// RevocationSnapshotTable holds the feed's compacted snapshot, which
	// only the revocation-snapshot function writes; empty: replicas read
	// the feed's whole window at a cold start.
	RevocationSnapshotTable string
	// MFATable (MFA_TABLE) holds second factors and login challenges.
	MFATable string
	// StepUp (STEP_UP_ROUTES) is what the authorizer requires of the
	// sign-in per route (RFC 9470): auth.ParseStepUpRules.
	StepUp auth.StepUpRules

	RefreshCookieName string
	RefreshCookiePath string
	AllowedOrigins    []string

	AuthorizerStoreTimeout time.Duration

	// DPoPReplay (DPOP_REPLAY) is where the authorizer records the DPoP
	// proofs it accepted: "shared" (the default), in each process and once
	// for the whole fleet in ProofReplayTable (DPOP_REPLAY_TABLE); "process",
	// in each process only (dpop.MemoryReplay).
	DPoPReplay       string
	ProofReplayTable string
	// PublicOrigin (PUBLIC_ORIGIN) is the scheme and host clients address
	// the API at, when not https:// + the domain API Gateway reports: the
	// origin of a DPoP proof's htu (apigw.PublicURL).
	PublicOrigin string

	// RevocationMode is how the authorizer learns revocations: "replica"
	// (an in-memory view of the revocation feed, synced every
	// RevocationSync) or "strict" (a strongly consistent read per request).
	RevocationMode         string
	RevocationSync         time.Duration
	RevocationMaxStaleness time.Duration
	// FeedCopies and FeedShards are the revocation feed's layout
	// (dynamo.FeedLayout): every writer and every reader of a stack must
	// use the same. 1 and 1 by default; BENCHMARKS.md (fleet simulation)
	// gives them by fleet size.
	FeedCopies int
	FeedShards int

	LoginMaxFailures int
	LoginLockoutBase time.Duration
	LoginLockoutMax  time.Duration
	// TOTPMaxFailures (TOTP_MAX_FAILURES, 20 by default) is how many wrong
	// second-factor answers in a row refuse TOTP codes until a recovery
	// code signs in (auth.Options.TOTPMaxFailures).
	TOTPMaxFailures int

	// PasskeysTable and PasskeyChallengesTable hold the passkeys'
	// credential records and their ceremonies' challenges; PasskeyRPID
	// (PASSKEY_RP_ID) is the WebAuthn relying party id and PasskeyOrigins
	// (PASSKEY_ORIGINS) the origins whose ceremonies are accepted
	// (shared/passkey checks that they fit together).
	PasskeysTable          string
	PasskeyChallengesTable string
	PasskeyRPID            string
	PasskeyOrigins         []string

	// DPoPMode (DPOP_MODE: off, optional or required; optional by
	// default) is what login and refresh do with DPoP proofs (RFC 9449,
	// auth.DPoPMode); discovery advertises DPoP unless it is off.
	DPoPMode auth.DPoPMode
	// DPoPNonce (DPOP_NONCE: off or required; off by default): login and
	// refresh require a server nonce in every proof (RFC 9449 8), unless
	// DPoPMode is off.
	DPoPNonce bool
}

// Load reads the configuration through getenv (os.Getenv in production, a map
// in tests). It returns every problem it finds, not only the first.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	c := Config{
		Issuer:                  p.str("ISSUER", ""),
		Audience:                p.str("AUDIENCE", ""),
		ClientID:                p.str("CLIENT_ID", "web"),
		SigningKeyID:            p.str("SIGNING_KEY_ID", ""),
		VerifyKeyIDs:            p.list("VERIFY_KEY_IDS"),
		SignWithKeyID:           p.str("SIGN_WITH_KEY_ID", ""),
		RSASigningAlg:           p.str("RSA_SIGNING_ALG", "RS256"),
		MACKeyID:                p.str("MAC_KEY_ID", ""),
		TOTPKeyID:               p.str("TOTP_KEY_ID", ""),
		MFATable:                p.str("MFA_TABLE", ""),
		AccessTokenTTL:          p.duration("ACCESS_TOKEN_TTL", 15*time.Minute),
		RefreshTokenTTL:         p.duration("REFRESH_TOKEN_TTL", 7*24*time.Hour),
		RefreshIdleTimeout:      p.duration("REFRESH_IDLE_TIMEOUT", 0),
		RefreshReuseGrace:       p.duration("REFRESH_REUSE_GRACE", 5*time.Second),
		ClockLeeway:             p.duration("CLOCK_LEEWAY", 10*time.Second),
		UsersTable:              p.str("USERS_TABLE", ""),
		LoginThrottleTable:      p.str("LOGIN_THROTTLE_TABLE", ""),
		SessionsTable:           p.str("SESSIONS_TABLE", ""),
		RevocationsTable:        p.str("REVOCATIONS_TABLE", ""),
		RevocationFeedTable:     p.str("REVOCATION_FEED_TABLE", ""),
		RevocationSnapshotTable: p.str("REVOCATION_SNAPSHOT_TABLE", ""),
		RefreshCookieName:       p.str("REFRESH_COOKIE_NAME", "__Secure-refresh_token"),
		RefreshCookiePath:       p.str("REFRESH_COOKIE_PATH", "/auth"),
		AllowedOrigins:          p.list("ALLOWED_ORIGINS"),

		AuthorizerStoreTimeout: p.duration("AUTHORIZER_STORE_TIMEOUT", 800*time.Millisecond),
		DPoPReplay:             p.str("DPOP_REPLAY", "shared"),
		ProofReplayTable:       p.str("DPOP_REPLAY_TABLE", ""),
		PublicOrigin:           p.str("PUBLIC_ORIGIN", ""),
		RevocationMode:         p.str("REVOCATION_MODE", "replica"),
		RevocationSync:         p.duration("REVOCATION_SYNC", time.Second),
		RevocationMaxStaleness: p.duration("REVOCATION_MAX_STALENESS", 5*time.Minute),
		FeedCopies:             p.integer("FEED_COPIES", 1),
		FeedShards:             p.integer("FEED_SHARDS", 1),

		LoginMaxFailures: p.integer("LOGIN_MAX_FAILURES", 5),
		LoginLockoutBase: p.duration("LOGIN_LOCKOUT_BASE", 30*time.Second),
		LoginLockoutMax:  p.duration("LOGIN_LOCKOUT_MAX", 15*time.Minute),
		TOTPMaxFailures:  p.integer("TOTP_MAX_FAILURES", auth.DefaultTOTPMaxFailures),
		DPoPMode:         p.dpopMode("DPOP_MODE"),
		DPoPNonce:        p.onOff("DPOP_NONCE", "required"),

		PasskeysTable:          p.str("PASSKEYS_TABLE", ""),
		PasskeyChallengesTable: p.str("PASSKEY_CHALLENGES_TABLE", ""),
		PasskeyRPID:            p.str("PASSKEY_RP_ID", ""),
		PasskeyOrigins:         p.list("PASSKEY_ORIGINS"),
	}
	if p.getenv("REVOCATION_MAX_STALENESS") == "" {
		// The default is 5m, or the access token lifetime when shorter: the
		// template gives this variable to the authorizer only, and the other
		// functions must start with a short ACCESS_TOKEN_TTL too.
		c.RevocationMaxStaleness = min(c.RevocationMaxStaleness, c.AccessTokenTTL)
	}
	rules, err := auth.ParseStepUpRules(p.getenv("STEP_UP_ROUTES"))
	if err != nil {
		p.fail("STEP_UP_ROUTES: %v", err)
	}
	c.StepUp = rules
	c.check(&p)
	return c, errors.Join(p.errs...)
}

// check records every setting that is out of its range (Load reports them
// all at once).
func (c Config) check(p *parser) {
	c.checkTokens(p)
	c.checkRevocations(p)
	c.checkLogin(p)
	c.checkBrowser(p)
}

// checkTokens checks the signing algorithm and the tokens' lifetimes.
func (c Config) checkTokens(p *parser) {
	if c.RSASigningAlg != "RS256" && c.RSASigningAlg != "PS256" {
		p.fail("RSA_SIGNING_ALG must be RS256 or PS256, got %q", c.RSASigningAlg)
	}
	if c.AccessTokenTTL < 30*time.Second || c.AccessTokenTTL > auth.MaxAccessTokenTTL {
		p.fail("ACCESS_TOKEN_TTL must be between 30s and %s, got %s", auth.MaxAccessTokenTTL, c.AccessTokenTTL)
	}
	// iat and exp are whole seconds (RFC 7519 NumericDate as issued here):
	// with a fraction, exp - iat would exceed the lifetime the authorizer
	// holds tokens to.
	if c.AccessTokenTTL%time.Second != 0 {
		p.fail("ACCESS_TOKEN_TTL must be a whole number of seconds, got %s", c.AccessTokenTTL)
	}
	if c.RefreshTokenTTL < c.AccessTokenTTL || c.RefreshTokenTTL > auth.MaxRefreshTokenTTL {
		p.fail("REFRESH_TOKEN_TTL must be at least ACCESS_TOKEN_TTL and at most %s, got %s", auth.MaxRefreshTokenTTL, c.RefreshTokenTTL)
	}
	if c.RefreshIdleTimeout < 0 {
		p.fail("REFRESH_IDLE_TIMEOUT must not be negative")
	}
	if c.RefreshReuseGrace < 0 || c.RefreshReuseGrace > time.Minute {
		p.fail("REFRESH_REUSE_GRACE must be between 0 and 1m, got %s", c.RefreshReuseGrace)
	}
	if c.ClockLeeway < 0 || c.ClockLeeway > auth.MaxClockLeeway {
		p.fail("CLOCK_LEEWAY must be between 0 and %s, got %s", auth.MaxClockLeeway, c.ClockLeeway)
	}
}

// checkRevocations checks how the authorizer reads revocations and how
// the feed is laid out.
func (c Config) checkRevocations(p *parser) {
	if c.AuthorizerStoreTimeout <= 0 || c.AuthorizerStoreTimeout > 10*time.Second {
		p.fail("AUTHORIZER_STORE_TIMEOUT must be between 1ms and 10s, got %s", c.AuthorizerStoreTimeout)
	}
	if c.DPoPReplay != "shared" && c.DPoPReplay != "process" {
		p.fail("DPOP_REPLAY must be shared or process, got %q", c.DPoPReplay)
	}
	if c.RevocationMode != "replica" && c.RevocationMode != "strict" {
		p.fail("REVOCATION_MODE must be replica or strict, got %q", c.RevocationMode)
	}
	if c.RevocationSync < 100*time.Millisecond || c.RevocationSync > time.Minute {
		p.fail("REVOCATION_SYNC must be between 100ms and 1m, got %s", c.RevocationSync)
	}
	if c.RevocationMaxStaleness < c.RevocationSync || c.RevocationMaxStaleness > c.AccessTokenTTL {
		p.fail("REVOCATION_MAX_STALENESS must be at least REVOCATION_SYNC and at most ACCESS_TOKEN_TTL, got %s", c.RevocationMaxStaleness)
	}
	// 9999: dynamo.MaxFeedSlots (the feed's key encoding).
	if c.FeedCopies < 1 || c.FeedShards < 1 || c.FeedCopies > 9999 || c.FeedShards > 9999 || c.FeedCopies*c.FeedShards > 9999 {
		p.fail("FEED_COPIES and FEED_SHARDS must be at least 1, their product at most 9999, got %d and %d", c.FeedCopies, c.FeedShards)
	}
}

// checkLogin checks the login throttle.
func (c Config) checkLogin(p *parser) {
	if c.LoginMaxFailures < 1 {
		p.fail("LOGIN_MAX_FAILURES must be at least 1")
	}
	if c.LoginLockoutBase <= 0 || c.LoginLockoutMax < c.LoginLockoutBase {
		p.fail("LOGIN_LOCKOUT_BASE must be positive and LOGIN_LOCKOUT_MAX at least as long")
	}
	if c.TOTPMaxFailures < 1 || c.TOTPMaxFailures > 100 {
		p.fail("TOTP_MAX_FAILURES must be 1 to 100 (NIST SP 800-63B 5.2.2: at most 100 failures in a row)")
	}
}

// checkBrowser checks what browsers see: the refresh cookie, the issuer
// and the origins allowed to call.
func (c Config) checkBrowser(p *parser) {
	if c.RefreshCookieName == "" || strings.ContainsAny(c.RefreshCookieName, " ;=,\t\r\n\"") {
		p.fail("REFRESH_COOKIE_NAME %q is not a valid cookie name", c.RefreshCookieName)
	}
	if strings.HasPrefix(c.RefreshCookieName, "__Host-") && c.RefreshCookiePath != "/" {
		p.fail("a __Host- cookie needs REFRESH_COOKIE_PATH=/")
	}
	if !strings.HasPrefix(c.RefreshCookiePath, "/") || strings.ContainsAny(c.RefreshCookiePath, " ;,\r\n") {
		p.fail("REFRESH_COOKIE_PATH %q must be an absolute path", c.RefreshCookiePath)
	}
	if c.Issuer != "" {
		if err := checkIssuer(c.Issuer); err != nil {
			p.fail("ISSUER %q: %v", c.Issuer, err)
		}
	}
	if o := c.PublicOrigin; o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil || u.Scheme != "https" && u.Scheme != "http" {
			p.fail("PUBLIC_ORIGIN %q is not an origin like https://api.example.com", o)
		}
	}
	for _, o := range c.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			p.fail("ALLOWED_ORIGINS entry %q is not an origin like https://app.example.com", o)
			continue
		}
		// The cookie is Secure: a plain-http origin is only a developer's
		// own machine.
		if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
			p.fail("ALLOWED_ORIGINS entry %q: only https origins (http only for localhost)", o)
		}
	}
}

// checkIssuer holds the issuer to RFC 8414 section 2: an https URL without
// query or fragment. The metadata document's URLs are the issuer followed
// by a route of the API, so it has no trailing slash either. Plain http is
// accepted only on this machine (localhost, 127.0.0.1, ::1): scripts/dev.
func checkIssuer(iss string) error {
	u, err := url.Parse(iss)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return errors.New("not a URL like https://auth.example.com")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(iss, "?#"):
		return errors.New("an issuer has no query or fragment (RFC 8414 2)")
	case strings.HasSuffix(iss, "/"):
		return errors.New("no trailing slash: the endpoints are the issuer followed by their path (/auth/login, /.well-known/jwks.json)")
	case u.User != nil:
		return errors.New("no user information in the issuer")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return errors.New("the issuer is an https URL (RFC 8414 2); http only for localhost")
}

func isLoopback(host string) bool { return host == "localhost" || host == "127.0.0.1" || host == "::1" }

// Require reports the named settings that are empty. Each function calls it
// with what it cannot run without, so a missing table name fails at init
// instead of on the first request.
func (c Config) Require(names ...string) error {
	values := map[string]string{
		"ISSUER":                    c.Issuer,
		"AUDIENCE":                  c.Audience,
		"SIGNING_KEY_ID":            c.SigningKeyID,
		"MAC_KEY_ID":                c.MACKeyID,
		"TOTP_KEY_ID":               c.TOTPKeyID,
		"MFA_TABLE":                 c.MFATable,
		"USERS_TABLE":               c.UsersTable,
		"LOGIN_THROTTLE_TABLE":      c.LoginThrottleTable,
		"SESSIONS_TABLE":            c.SessionsTable,
		"REVOCATIONS_TABLE":         c.RevocationsTable,
		"REVOCATION_FEED_TABLE":     c.RevocationFeedTable,
		"REVOCATION_SNAPSHOT_TABLE": c.RevocationSnapshotTable,
		"DPOP_REPLAY_TABLE":         c.ProofReplayTable,
		"PASSKEYS_TABLE":            c.PasskeysTable,
		"PASSKEY_CHALLENGES_TABLE":  c.PasskeyChallengesTable,
		"PASSKEY_RP_ID":             c.PasskeyRPID,
		"PASSKEY_ORIGINS":           strings.Join(c.PasskeyOrigins, ","),
	}
	var errs []error
	for _, n := range names {
		v, known := values[n]
		if !known {
			errs = append(errs, fmt.Errorf("config: Require(%q): unknown setting", n))
			continue
		}
		if v == "" {
			errs = append(errs, fmt.Errorf("config: %s is required", n))
		}
	}
	return errors.Join(errs...)
}

type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) fail(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("config: "+format, args...))
}

func (p *parser) str(name, def string) string {
	if v := strings.TrimSpace(p.getenv(name)); v != "" {
		return v
	}
	return def
}

func (p *parser) list(name string) []string {
	var out []string
	for _, v := range strings.Split(p.getenv(name), ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (p *parser) duration(name string, def time.Duration) time.Duration {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.fail("%s: %v", name, err)
		return def
	}
	return d
}

// dpopMode reads an auth.DPoPMode; optional when unset.
func (p *parser) dpopMode(name string) auth.DPoPMode {
	m, err := auth.ParseDPoPMode(p.str(name, "optional"))
	if err != nil {
		p.fail("%s: %v", name, err)
	}
	return m
}

// onOff reads a setting that is "off" (the default) or on, spelled on.
func (p *parser) onOff(name, on string) bool {
	switch v := p.str(name, "off"); v {
	case "off":
		return false
	case on:
		return true
	default:
		p.fail("%s must be off or %s, got %q", name, on, v)
		return false
	}
}

func (p *parser) integer(name string, def int) int {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.fail("%s: %v", name, err)
		return def
	}
	return n
}
