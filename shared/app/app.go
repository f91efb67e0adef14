// Package app wires each Lambda function: configuration, AWS clients,
// stores, the service and the API Gateway adapter, built once per container.
// A function's main calls one constructor here with os.Getenv; tests call the
// same constructors with their own getenv, so they run the real wiring.
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/authkit/lambda-auth/shared/apigw"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/config"
	"github.com/authkit/lambda-auth/shared/dynamo"
	"github.com/authkit/lambda-auth/shared/kmssign"
	"github.com/authkit/lambda-auth/shared/metrics"
	"github.com/authkit/lambda-auth/shared/password"
	"github.com/authkit/lambda-auth/shared/replica"
	"github.com/authkit/lambda-auth/shared/token"
)

// JWKSMaxAge is how long caches may keep the JWKS document.
const JWKSMaxAge = 5 * time.Minute

// Option changes how a function is wired (tests).
type Option func(*settings)

type settings struct {
	awsOptions []func(*awsconfig.LoadOptions) error
	now        func() time.Time
	storeNow   func() time.Time
	logger     *slog.Logger
	replica    []func(*replica.Options)
	metricsOut io.Writer
	metricsOpt []metrics.Option
}

// WithAWSOptions adds AWS SDK load options, e.g. middleware that counts calls.
func WithAWSOptions(fns ...func(*awsconfig.LoadOptions) error) Option {
	return func(s *settings) { s.awsOptions = append(s.awsOptions, fns...) }
}

// WithClock replaces time.Now, and DynamoDB's clock (the Date of its
// answers, which the revocation replica reads) unless WithStoreClock
// says otherwise: a test's whole world runs on its clock.
func WithClock(now func() time.Time) Option { return func(s *settings) { s.now = now } }

// WithStoreClock replaces DynamoDB's clock as its answers show it (tests
// of a function whose clock disagrees with the store's).
func WithStoreClock(now func() time.Time) Option { return func(s *settings) { s.storeNow = now } }

// WithLogger replaces slog.Default().
func WithLogger(l *slog.Logger) Option { return func(s *settings) { s.logger = l } }

// WithMetrics sends the function's metric lines (CloudWatch EMF) to w
// instead of standard output, with opts after the wiring's own (tests
// capture and check every line).
func WithMetrics(w io.Writer, opts ...metrics.Option) Option {
	return func(s *settings) { s.metricsOut, s.metricsOpt = w, opts }
}

// WithReplicaOptions changes the authorizer's revocation replica settings
// after the configuration's (tests), in the order given.
func WithReplicaOptions(fn func(*replica.Options)) Option {
	return func(s *settings) { s.replica = append(s.replica, fn) }
}

type wiring struct {
	cfg    config.Config
	aws    aws.Config
	set    settings
	getenv func(string) string
}

func load(ctx context.Context, getenv func(string) string, opts []Option, required ...string) (*wiring, error) {
	var set settings
	for _, o := range opts {
		o(&set)
	}
	if set.logger == nil {
		set.logger = slog.Default()
	}
	if set.storeNow == nil && set.now != nil {
		set.storeNow = set.now
	}
	if set.now == nil {
		set.now = time.Now
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	if err := cfg.Require(required...); err != nil {
		return nil, err
	}
	for i, o := range cfg.AllowedOrigins {
		cfg.AllowedOrigins[i] = strings.TrimSuffix(strings.ToLower(o), "/")
	}
	// Endpoints come only from the SDK's standard settings
	// (AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL_DYNAMODB): no local code path.
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, set.awsOptions...)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return &wiring{cfg: cfg, aws: awsCfg, set: set, getenv: getenv}, nil
}

// metrics is the function's metric recorder: EMF lines on standard output
// (or the WithMetrics writer), Function = the Lambda function's name
// (AWS_LAMBDA_FUNCTION_NAME; name outside Lambda), "level" = its
// application log level so that Lambda's filter keeps them.
func (w *wiring) metrics(name string, opts ...metrics.Option) *metrics.Recorder {
	out := w.set.metricsOut
	if out == nil {
		out = os.Stdout
	}
	if fn := w.getenv("AWS_LAMBDA_FUNCTION_NAME"); fn != "" {
		name = fn
	}
	opts = append([]metrics.Option{metrics.WithLevel(w.getenv("AWS_LAMBDA_LOG_LEVEL")), metrics.WithClock(w.set.now)}, opts...)
	return metrics.New(out, name, append(opts, w.set.metricsOpt...)...)
}

// serviceMetrics counts what the service decides (auth.Metrics).
type serviceMetrics struct{ *metrics.Recorder }

func (m serviceMetrics) Revoked(k auth.RevocationKind) {
	m.Revocation(map[auth.RevocationKind]metrics.Kind{
		auth.RevokeToken: metrics.KindToken, auth.RevokeSession: metrics.KindSession, auth.RevokeUser: metrics.KindUser,
		auth.RevokeAll: metrics.KindAll,
	}[k])
}

// Escalated counts one revocation escalated to a user entry.
func (m serviceMetrics) Escalated() { m.Escalation() }

func (w *wiring) options() auth.Options {
	c := w.cfg
	return auth.Options{
		Issuer: c.Issuer, Audience: c.Audience, ClientID: c.ClientID,
		AccessTokenTTL: c.AccessTokenTTL, RefreshTokenTTL: c.RefreshTokenTTL,
		RefreshIdleTimeout: c.RefreshIdleTimeout, RefreshReuseGrace: c.RefreshReuseGrace,
		LoginMaxFailures: c.LoginMaxFailures, LoginLockoutBase: c.LoginLockoutBase, LoginLockoutMax: c.LoginLockoutMax,
		TOTPMaxFailures: c.TOTPMaxFailures, DPoPMode: c.DPoPMode, Now: w.set.now, Logger: w.set.logger,
	}
}

func (w *wiring) store(opts ...func(*dynamodb.Options)) *dynamo.Store {
	return dynamo.New(dynamodb.NewFromConfig(w.aws, opts...), w.tables(), w.storeOptions()...)
}

// storeOptions are every store's: the clock, DynamoDB's clock when a test
// sets one, and the feed's layout.
func (w *wiring) storeOptions(more ...dynamo.Option) []dynamo.Option {
	so := []dynamo.Option{dynamo.WithClock(w.set.now), w.layout()}
	if w.set.storeNow != nil {
		so = append(so, dynamo.WithServerClock(w.set.storeNow))
	}
	return append(so, more...)
}

func (w *wiring) tables() dynamo.Tables {
	return dynamo.Tables{
		Users: w.cfg.UsersTable, LoginThrottle: w.cfg.LoginThrottleTable,
		Sessions: w.cfg.SessionsTable, Revocations: w.cfg.RevocationsTable,
		RevocationFeed: w.cfg.RevocationFeedTable, RevocationSnapshot: w.cfg.RevocationSnapshotTable,
		Passkeys: w.cfg.PasskeysTable, PasskeyChallenges: w.cfg.PasskeyChallengesTable,
		MFA: w.cfg.MFATable,
	}
}

// layout is the revocation feed's layout (FEED_COPIES, FEED_SHARDS).
func (w *wiring) layout() dynamo.Option {
	return dynamo.WithFeedLayout(dynamo.FeedLayout{Copies: w.cfg.FeedCopies, Shards: w.cfg.FeedShards})
}

// writer is the store of a function that writes revocations: every feed
// item it writes is counted (RevocationFeedItems).
func (w *wiring) writer(met *metrics.Recorder) *dynamo.Store {
	return dynamo.New(dynamodb.NewFromConfig(w.aws), w.tables(), w.storeOptions(dynamo.WithFeedCounter(met.FeedItem))...)
}

// userRevoker is the store and revoker of a function users call that
// writes revocations: every feed item it writes is counted
// (RevocationFeedItems), every revocation counted against the budget of
// the user who causes it.
func (w *wiring) userRevoker(met *metrics.Recorder) (*dynamo.Store, *auth.Revoker) {
	st := w.writer(met)
	return st, auth.NewRevoker(st, st, serviceMetrics{met}, w.options())
}

// issuing loads what login and refresh need to hand out tokens: the
// access token issuer over the signing key (one GetPublicKey) and the
// MAC key (one GenerateMac), at init.
func (w *wiring) issuing(ctx context.Context) (*auth.AccessIssuer, []byte, error) {
	signer, err := w.signer(ctx)
	if err != nil {
		return nil, nil, err
	}
	mac, err := w.macKey(ctx)
	if err != nil {
		return nil, nil, err
	}
	return auth.NewAccessIssuer(signer, w.options()), mac, nil
}

// signer is the key login and refresh sign with: SIGNING_KEY_ID, or
// SIGN_WITH_KEY_ID during the first step of a key rotation (the previous
// key keeps signing while the new one is published; infra/runbooks/key-rotation.md).
func (w *wiring) signer(ctx context.Context) (*kmssign.Signer, error) {
	id := w.cfg.SigningKeyID
	if w.cfg.SignWithKeyID != "" {
		id = w.cfg.SignWithKeyID
		w.set.logger.InfoContext(ctx, "key rotation: signing with SIGN_WITH_KEY_ID, not SIGNING_KEY_ID", "key", id)
	}
	s, err := kmssign.New(ctx, kms.NewFromConfig(w.aws), id, w.cfg.RSASigningAlg)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return s, nil
}

// macKeyLabel names what the functions derive from the HMAC key: one
// secret, split by purpose inside shared/auth. Changing it changes every
// successor and throttle key, so it carries a version.
const macKeyLabel = "lambda-auth/v1/function-secret"

// macKey derives the keyed-hash secret from the KMS HMAC key: one
// GenerateMac call, at init; it is kept in memory only.
func (w *wiring) macKey(ctx context.Context) ([]byte, error) {
	k, err := kmssign.DeriveKey(ctx, kms.NewFromConfig(w.aws), w.cfg.MACKeyID, macKeyLabel)
	if err != nil {
		return nil, fmt.Errorf("MAC key: %w", err)
	}
	return k, nil
}

func (w *wiring) cookie() apigw.CookieConfig {
	return apigw.CookieConfig{Name: w.cfg.RefreshCookieName, Path: w.cfg.RefreshCookiePath, AllowedOrigins: w.cfg.AllowedOrigins}
}

// verifyKeys loads the current signing key and the previous ones still
// accepted: one GetPublicKey each, at init. Without the current key the
// function does not start; a previous key that cannot be loaded (deleted,
// disabled) is logged and left out, so one stale entry in VERIFY_KEY_IDS
// cannot take every protected API down.
func (w *wiring) verifyKeys(ctx context.Context) ([]kmssign.Key, error) {
	client := kms.NewFromConfig(w.aws)
	current, err := kmssign.LoadKey(ctx, client, w.cfg.SigningKeyID, w.cfg.RSASigningAlg)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	keys := []kmssign.Key{current}
	for _, id := range w.cfg.VerifyKeyIDs {
		prev, err := kmssign.LoadKey(ctx, client, id, w.cfg.RSASigningAlg)
		if err != nil {
			w.set.logger.ErrorContext(ctx, "previous signing key left out", "key", id, "err", err)
			continue
		}
		if !slices.ContainsFunc(keys, func(k kmssign.Key) bool { return k.KID == prev.KID }) {
			keys = append(keys, prev) // the same key named twice counts once
		}
	}
	return keys, nil
}

// Login wires the login function.
func Login(ctx context.Context, getenv func(string) string, opts ...Option) (apigw.Handler, error) {
	w, err := load(ctx, getenv, opts, "ISSUER", "AUDIENCE", "SIGNING_KEY_ID", "MAC_KEY_ID",
		"USERS_TABLE", "LOGIN_THROTTLE_TABLE", "SESSIONS_TABLE", "REVOCATIONS_TABLE", "REVOCATION_FEED_TABLE",
		"MFA_TABLE", "TOTP_KEY_ID")
	if err != nil {
		return nil, err
	}
	issuer, mac, err := w.issuing(ctx)
	if err != nil {
		return nil, err
	}
	dp, err := w.dpop(ctx)
	if err != nil {
		return nil, err
	}
	met := w.metrics("login")
	st, revoker := w.userRevoker(met)
	password.Dummy() // the unknown-user hash, computed now rather than on a request
	flow := auth.NewLogin(st, st, revoker, issuer, mac, auth.Passwords{Verify: password.Verify, Dummy: password.Dummy()}, serviceMetrics{met}, w.options())
	// The same function finishes a login with a second factor and changes
	// passwords: the routes that check a password or a code and start a
	// session (it alone, with refresh, may sign: SigningKey's policy).
	flow.WithSecondFactor(auth.NewSecondFactor(st, w.secretBox(), st, serviceMetrics{met}, w.options())).
		WithPasswordChange(st, hashPassword)
	ck := w.cookie()
	return apigw.ByRoute(apigw.Login(flow, ck, w.set.logger, met, apigw.WithDPoP(dp)), map[string]apigw.Handler{
		"POST /auth/login/mfa": apigw.LoginMFA(flow, ck, w.set.logger, met, apigw.WithDPoP(dp)),
		"POST /auth/password":  apigw.ChangePassword(flow, ck, w.set.logger, met),
	}), nil
}

// hashPassword hashes a new password at the default cost (argon2id).
func hashPassword(pw string) (string, error) { return password.Hash(pw, password.Default) }

// secretBox seals and opens TOTP secrets with TOTP_KEY_ID.
func (w *wiring) secretBox() *kmssign.SecretBox {
	return kmssign.NewSecretBox(kms.NewFromConfig(w.aws), w.cfg.TOTPKeyID)
}

// TOTP wires the TOTP routes (enrol, confirm, status, remove): the MFA
// table, the TOTP key (Encrypt, Decrypt) and the login throttle table
// (wrong codes).
func TOTP(ctx context.Context, getenv func(string) string, opts ...Option) (apigw.Handler, error) {
	w, err := load(ctx, getenv, opts, "ISSUER", "MFA_TABLE", "TOTP_KEY_ID", "LOGIN_THROTTLE_TABLE")
	if err != nil {
		return nil, err
	}
	met := w.metrics("totp")
	st := w.store()
	flow := auth.NewTOTP(st, w.secretBox(), st, serviceMetrics{met}, totpIssuerName(w.cfg.Issuer), w.options())
	return apigw.TOTP(flow, w.set.logger, met), nil
}

// totpIssuerName is the issuer an authenticator app shows: the host name
// of ISSUER (no port: ':' separates issuer and account in the URI).
func totpIssuerName(iss string) string {
	if u, err := url.Parse(iss); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "lambda-auth"
}

// Refresh wires the refresh function.
func Refresh(ctx context.Context, getenv func(string) string, opts ...Option) (apigw.Handler, error) {
	w, err := load(ctx, getenv, opts, "ISSUER", "AUDIENCE", "SIGNING_KEY_ID", "MAC_KEY_ID", "USERS_TABLE", "SESSIONS_TABLE",
		"REVOCATIONS_TABLE", "REVOCATION_FEED_TABLE", "LOGIN_THROTTLE_TABLE")
	if err != nil {
		return nil, err
	}
	issuer, mac, err := w.issuing(ctx)
	if err != nil {
		return nil, err
	}
	dp, err := w.dpop(ctx)
	if err != nil {
		return nil, err
	}
	met := w.metrics("refresh")
	st, revoker := w.userRevoker(met)
	flow := auth.NewRefresh(st, revoker, issuer, mac, w.options())
	return apigw.Refresh(flow, w.cookie(), w.set.logger, met, apigw.WithDPoP(dp)), nil
}

// Logout wires the logout function (this device).
func Logout(ctx context.Context, getenv func(string) string, opts ...Option) (apigw.Handler, error) {
	w, err := load(ctx, getenv, opts, "SESSIONS_TABLE", "REVOCATIONS_TABLE", "REVOCATION_FEED_TABLE", "LOGIN_THROTTLE_TABLE")
	if err != nil {
		return nil, err
	}
	met := w.metrics("logout")
	st, revoker := w.userRevoker(met)
	return apigw.Logout(auth.NewLogout(st, revoker, w.options()), w.cookie(), w.set.logger, met), nil
}

// LogoutAll wires the logout-all function.
func LogoutAll(ctx context.Context, getenv func(string) string, opts ...Option) (apigw.Handler, error) {
	w, err := load(ctx, getenv, opts, "REVOCATIONS_TABLE", "REVOCATION_FEED_TABLE", "LOGIN_THROTTLE_TABLE")
	if err != nil {
		return nil, err
	}
	met := w.metrics("logout-all")
	_, revoker := w.userRevoker(met)
	return apigw.LogoutAll(auth.NewLogoutAll(revoker, w.options()), w.cookie(), w.set.logger, met), nil
}

// Me wires the demo protected route.
func Me(ctx context.Context, getenv func(string) string, opts ...Option) (apigw.Handler, error) {
	var set settings
	for _, o := range opts {
		o(&set)
	}
	if set.logger == nil {
		set.logger = slog.Default()
	}
	return apigw.Me(set.logger), nil
}

// JWKS wires the JWKS endpoint: the document is built once, at init.
func JWKS(ctx context.Context, getenv func(string) string, opts ...Option) (apigw.Handler, error) {
	w, err := load(ctx, getenv, opts, "SIGNING_KEY_ID")
	if err != nil {
		return nil, err
	}
	keys, err := w.verifyKeys(ctx)
	if err != nil {
		return nil, err
	}
	doc, err := kmssign.Document(keys)
	if err != nil {
		return nil, err
	}
	return apigw.JWKS(doc, JWKSMaxAge), nil
}

// Discovery wires the authorization server metadata (RFC 8414) served at
// /.well-known/oauth-authorization-server and
// /.well-known/openid-configuration: built once, at init, from ISSUER and
// the algorithms of the keys the JWKS publishes, and DPoP's (DPOP_MODE).
func Discovery(ctx context.Context, getenv func(string) string, opts ...Option) (apigw.Handler, error) {
	w, err := load(ctx, getenv, opts, "ISSUER", "SIGNING_KEY_ID")
	if err != nil {
		return nil, err
	}
	keys, err := w.verifyKeys(ctx)
	if err != nil {
		return nil, err
	}
	var algs []string
	for _, k := range keys {
		if !slices.Contains(algs, k.Alg) {
			algs = append(algs, k.Alg)
		}
	}
	m := apigw.NewMetadata(w.cfg.Issuer, algs)
	if m.DPoPSigningAlgValuesSupported, err = w.dpopMetadata(); err != nil {
		return nil, err
	}
	doc, err := m.Document()
	if err != nil {
		return nil, err
	}
	return apigw.WellKnown(doc, "application/json", JWKSMaxAge), nil
}

// verifier is the access token verifier of this configuration: public keys
// fetched here, once per container, the issuer, audience and leeway. No
// token of this configuration lives longer than ACCESS_TOKEN_TTL: the
// replica holds revocations for that long (shared/replica), and a longer
// one is refused.
func (w *wiring) verifier(ctx context.Context) (*token.Verifier, error) {
	keys, err := w.verifyKeys(ctx)
	if err != nil {
		return nil, err
	}
	pub := make([]token.PublicKey, len(keys))
	for i, k := range keys {
		pub[i] = k.PublicKey
	}
	return token.NewVerifier(w.cfg.Issuer, w.cfg.Audience, pub,
		token.WithLeeway(w.cfg.ClockLeeway), token.WithTimeFunc(w.set.now), token.WithMaxLifetime(w.cfg.AccessTokenTTL))
}

// Authorizer wires the authorizer: public keys are fetched here, once per
// container, and verified tokens are remembered (token.Cache). In replica
// mode (the default) revocations come from an in-memory view of the
// revocation feed, loaded here and synced at most every REVOCATION_SYNC: a
// request usually costs no AWS call at all. In strict mode a request costs
// one DynamoDB call. The DynamoDB client retries at most once, inside
// AUTHORIZER_STORE_TIMEOUT.
func Authorizer(ctx context.Context, getenv func(string) string, opts ...Option) (apigw.AuthorizerHandler, error) {
	w, err := load(ctx, getenv, opts, "ISSUER", "AUDIENCE", "SIGNING_KEY_ID")
	if err != nil {
		return nil, err
	}
	table := "REVOCATIONS_TABLE"
	if w.cfg.RevocationMode == "replica" {
		table = "REVOCATION_FEED_TABLE"
	}
	if err := w.cfg.Require(table); err != nil {
		return nil, fmt.Errorf("REVOCATION_MODE %s: %w", w.cfg.RevocationMode, err)
	}
	v, err := w.verifier(ctx)
	if err != nil {
		return nil, err
	}
	cached := token.NewCache(v, token.DefaultCacheSize)
	withDPoP, err := w.dpopOption()
	if err != nil {
		return nil, err
	}
	authzOpts := []apigw.AuthorizerOption{withDPoP}
	if w.cfg.DPoPMode == auth.DPoPRequired {
		// Tokens bound to no key (minted before the switch to required)
		// are denied, as the token endpoints no longer mint them (RFC
		// 9449 7.1, 7.2).
		authzOpts = append(authzOpts, apigw.WithBoundTokensOnly())
	}
	st := w.store(func(o *dynamodb.Options) { o.RetryMaxAttempts = 2 })
	if w.cfg.RevocationMode != "replica" {
		// Strict: the table itself, one read per request, bounded here.
		authz := auth.NewAuthorizer(cached, st, w.cfg.AuthorizerStoreTimeout, w.options()).WithStepUp(w.cfg.StepUp)
		return apigw.Authorizer(authz, w.set.logger, w.metrics("authorizer"), authzOpts...), nil
	}
	// The recorder is made last (it reads the replica's age); a skew or a
	// refusal seen by the cold load before is written through it once it
	// exists.
	var skew skewSink
	st = dynamo.New(dynamodb.NewFromConfig(w.aws, func(o *dynamodb.Options) { o.RetryMaxAttempts = 2 }), w.tables(),
		w.storeOptions(dynamo.WithRefusalCounter(skew.refusal))...)
	r := w.replica(ctx, st, skew.record)
	met := w.metrics("authorizer", metrics.WithReplicaAge(r.Age))
	skew.attach(met)
	// No lookup timeout: the replica bounds its own reads (SyncTimeout).
	authz := auth.NewAuthorizer(cached, r, 0, w.options()).WithStepUp(w.cfg.StepUp)
	return apigw.Authorizer(authz, w.set.logger, met, authzOpts...), nil
}

// replica builds the authorizer's revocation replica over st and loads
// it (the cold start): the last ACCESS_TOKEN_TTL + 2 × CLOCK_LEEWAY of the
// feed, synced at most every REVOCATION_SYNC within
// AUTHORIZER_STORE_TIMEOUT. A failed load is not fatal: the first
// requests try again, and deny until then.
func (w *wiring) replica(ctx context.Context, st *dynamo.Store, onSkew func(time.Duration)) *replica.Replica {
	ro := replica.Options{
		SyncInterval: w.cfg.RevocationSync, MaxStaleness: w.cfg.RevocationMaxStaleness,
		Window: w.cfg.AccessTokenTTL + 2*w.cfg.ClockLeeway, SyncTimeout: w.cfg.AuthorizerStoreTimeout,
		Now: w.set.now, Logger: w.set.logger, OnClockSkew: onSkew,
	}
	for _, fn := range w.set.replica {
		fn(&ro)
	}
	r := replica.New(st, ro)
	if err := r.Load(ctx); err != nil {
		w.set.logger.ErrorContext(ctx, "revocation replica: cold load failed", "err", err)
	}
	return r
}

// skewSink writes the clock skews and the refused reads (ReplicaRefused)
// the replica sees to the authorizer's recorder, holding those seen before
// the recorder exists (the cold load) until attach.
type skewSink struct {
	met     *metrics.Recorder
	early   []time.Duration
	refused int
}

func (s *skewSink) refusal(string) {
	if s.met == nil {
		s.refused++
		return
	}
	s.met.Refused()
}

func (s *skewSink) record(d time.Duration) {
	if s.met == nil {
		s.early = append(s.early, d)
		return
	}
	s.met.ClockSkew(d)
}

func (s *skewSink) attach(met *metrics.Recorder) {
	s.met = met
	for _, d := range s.early {
		met.ClockSkew(d)
	}
	for range s.refused {
		met.Refused()
	}
	s.early, s.refused = nil, 0
}

// TokenRevocation wires POST /auth/revoke (RFC 7009): refresh tokens end
// their session, verified access tokens get a jti entry.
func TokenRevocation(ctx context.Context, getenv func(string) string, opts ...Option) (apigw.Handler, error) {
	w, v, err := loadVerifying(ctx, getenv, opts, "SESSIONS_TABLE", "REVOCATIONS_TABLE", "REVOCATION_FEED_TABLE", "LOGIN_THROTTLE_TABLE")
	if err != nil {
		return nil, err
	}
	met := w.metrics("token-revocation")
	st, revoker := w.userRevoker(met)
	// The token's entries are read from the table itself, strongly
	// consistent, within AUTHORIZER_STORE_TIMEOUT.
	authz := auth.NewAuthorizer(v, st, w.cfg.AuthorizerStoreTimeout, w.options())
	return apigw.TokenRevocation(auth.NewTokenRevocation(authz, st, revoker, w.options()), w.set.logger, met), nil
}

// TokenIntrospection wires POST /auth/introspect (RFC 7662): the token
// verified as the authorizer verifies it, and its revocation entries read
// from the table itself, strongly consistent, whatever REVOCATION_MODE the
// authorizer runs in.
func TokenIntrospection(ctx context.Context, getenv func(string) string, opts ...Option) (apigw.Handler, error) {
	w, v, err := loadVerifying(ctx, getenv, opts, "REVOCATIONS_TABLE")
	if err != nil {
		return nil, err
	}
	met := w.metrics("token-introspection")
	authz := auth.NewAuthorizer(v, w.store(), w.cfg.AuthorizerStoreTimeout, w.options())
	return apigw.TokenIntrospection(auth.NewTokenIntrospection(authz, w.options()), w.set.logger, met), nil
}

// loadVerifying loads the configuration of a function that verifies
// access tokens (ISSUER, AUDIENCE, SIGNING_KEY_ID and required) and builds
// its verifier.
func loadVerifying(ctx context.Context, getenv func(string) string, opts []Option, required ...string) (*wiring, *token.Verifier, error) {
	w, err := load(ctx, getenv, opts, append([]string{"ISSUER", "AUDIENCE", "SIGNING_KEY_ID"}, required...)...)
	if err != nil {
		return nil, nil, err
	}
	v, err := w.verifier(ctx)
	if err != nil {
		return nil, nil, err
	}
	return w, v, nil
}

// Revoke wires the console-invoked revoke function.
func Revoke(ctx context.Context, getenv func(string) string, opts ...Option) (func(context.Context, json.RawMessage) (apigw.RevokeResult, error), error) {
	w, err := load(ctx, getenv, opts, "SESSIONS_TABLE", "REVOCATIONS_TABLE", "REVOCATION_FEED_TABLE")
	if err != nil {
		return nil, err
	}
	met := w.metrics("revoke")
	st := w.writer(met)
	revoker := auth.NewOperatorRevoker(st, serviceMetrics{met}, w.options())
	return apigw.Revoke(auth.NewRevoke(st, revoker, w.options()), w.set.logger, met), nil
}

// Sessions wires the session list, GET /auth/sessions: it can only read
// the sessions table's live-by-user index and the revocation entries.
func Sessions(ctx context.Context, getenv func(string) string, opts ...Option) (apigw.Handler, error) {
	w, err := load(ctx, getenv, opts, "SESSIONS_TABLE", "REVOCATIONS_TABLE")
	if err != nil {
		return nil, err
	}
	met := w.metrics("sessions")
	return apigw.Sessions(auth.NewSessionList(w.store(), w.options()), w.set.logger, met), nil
}

// EndSession wires DELETE /auth/sessions/{id}: one of the caller's
// sessions ends as a logout ends it.
func EndSession(ctx context.Context, getenv func(string) string, opts ...Option) (apigw.Handler, error) {
	w, err := load(ctx, getenv, opts, "SESSIONS_TABLE", "REVOCATIONS_TABLE", "REVOCATION_FEED_TABLE", "LOGIN_THROTTLE_TABLE")
	if err != nil {
		return nil, err
	}
	met := w.metrics("end-session")
	st, revoker := w.userRevoker(met)
	return apigw.EndSession(auth.NewSessionEnd(st, revoker, w.options()), w.cookie(), w.set.logger, met), nil
}

// SnapshotResult is what one run of the revocation snapshot compaction
// did (the function's answer, and its log line).
type SnapshotResult struct {
	Outcome   string `json:"outcome"` // "fresh", "moved", "written", "lost"
	ID        string `json:"id,omitempty"`
	Entries   int    `json:"entries"`
	Parts     int    `json:"parts"`
	Bytes     int    `json:"bytes,omitempty"`
	Watermark string `json:"watermark,omitempty"`
	TookMs    int64  `json:"took_ms"`
}

// RevocationSnapshot wires the scheduled compaction of the revocation
// feed into its snapshot (dynamo.Store.CompactSnapshot), for the window
// the authorizers keep: ACCESS_TOKEN_TTL + 2 × CLOCK_LEEWAY. The event (an
// EventBridge schedule) is not read.
func RevocationSnapshot(ctx context.Context, getenv func(string) string, opts ...Option) (func(context.Context, json.RawMessage) (SnapshotResult, error), error) {
	w, err := load(ctx, getenv, opts, "REVOCATION_FEED_TABLE", "REVOCATION_SNAPSHOT_TABLE")
	if err != nil {
		return nil, err
	}
	st := w.store()
	window := w.cfg.AccessTokenTTL + 2*w.cfg.ClockLeeway
	return func(ctx context.Context, _ json.RawMessage) (SnapshotResult, error) {
		start := w.set.now()
		c, err := st.CompactSnapshot(ctx, window)
		if err != nil {
			w.set.logger.ErrorContext(ctx, "revocation snapshot: compaction failed", "err", err)
			return SnapshotResult{}, err
		}
		res := SnapshotResult{ID: c.ID, Entries: c.Entries, Parts: c.Parts, Bytes: c.Bytes, TookMs: w.set.now().Sub(start).Milliseconds()}
		switch {
		case c.Skipped:
			res.Outcome = "fresh"
		case c.Lost:
			res.Outcome = "lost"
		case c.Moved:
			res.Outcome = "moved"
		default:
			res.Outcome = "written"
		}
		if !c.Watermark.IsZero() {
			res.Watermark = c.Watermark.UTC().Format(time.RFC3339Nano)
		}
		w.set.logger.InfoContext(ctx, "revocation snapshot", "outcome", res.Outcome, "id", res.ID, "entries", res.Entries,
			"parts", res.Parts, "bytes", res.Bytes, "took_ms", res.TookMs)
		return res, nil
	}, nil
}

// RevocationFeed wires the revocation-feed function: the Revocations
// table's stream (an event source mapping with ReportBatchItemFailures)
// into the revocation feed (dynamo.Store.FeedStream). It answers the
// records it could not feed as batch item failures, so Lambda retries
// them (bisecting, a bounded number of times, then the on-failure
// destination); it never fails the whole batch.
func RevocationFeed(ctx context.Context, getenv func(string) string, opts ...Option) (func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error), error) {
	w, err := load(ctx, getenv, opts, "REVOCATION_FEED_TABLE")
	if err != nil {
		return nil, err
	}
	met := w.metrics("revocation-feed")
	st := w.writer(met)
	log := w.set.logger
	return func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		return events.DynamoDBEventResponse{BatchItemFailures: st.FeedStream(ctx, ev.Records, log)}, nil
	}, nil
}
