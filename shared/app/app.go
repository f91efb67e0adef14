// Package app wires each Lambda function: configuration, AWS clients,
// stores, the service and the API Gateway adapter, built once per container.
// A function's main calls one constructor here with os.Getenv; tests call the
// same constructors with their own getenv, so they run the real wiring.
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/authkit/lambda-auth/shared/apigw"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/config"
	"github.com/authkit/lambda-auth/shared/dynamo"
	"github.com/authkit/lambda-auth/shared/kmssign"
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
	logger     *slog.Logger
	replica    []func(*replica.Options)
}

// WithAWSOptions adds AWS SDK load options, e.g. middleware that counts calls.
func WithAWSOptions(fns ...func(*awsconfig.LoadOptions) error) Option {
	return func(s *settings) { s.awsOptions = append(s.awsOptions, fns...) }
}

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option { return func(s *settings) { s.now = now } }

// WithLogger replaces slog.Default().
func WithLogger(l *slog.Logger) Option { return func(s *settings) { s.logger = l } }

// WithReplicaOptions changes the authorizer's revocation replica settings
// after the configuration's (tests), in the order given.
func WithReplicaOptions(fn func(*replica.Options)) Option {
	return func(s *settings) { s.replica = append(s.replica, fn) }
}

type wiring struct {
	cfg config.Config
	aws aws.Config
	set settings
}

func load(ctx context.Context, getenv func(string) string, opts []Option, required ...string) (*wiring, error) {
	var set settings
	for _, o := range opts {
		o(&set)
	}
	if set.logger == nil {
		set.logger = slog.Default()
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
	return &wiring{cfg: cfg, aws: awsCfg, set: set}, nil
}

func (w *wiring) options() auth.Options {
	c := w.cfg
	return auth.Options{
		Issuer: c.Issuer, Audience: c.Audience, ClientID: c.ClientID,
		AccessTokenTTL: c.AccessTokenTTL, RefreshTokenTTL: c.RefreshTokenTTL,
		RefreshIdleTimeout: c.RefreshIdleTimeout, RefreshReuseGrace: c.RefreshReuseGrace,
		ClockLeeway: c.ClockLeeway, StoreTimeout: c.AuthorizerStoreTimeout,
		LoginMaxFailures: c.LoginMaxFailures, LoginLockoutBase: c.LoginLockoutBase, LoginLockoutMax: c.LoginLockoutMax,
		Now: w.set.now,
	}
}

func (w *wiring) store(opts ...func(*dynamodb.Options)) *dynamo.Store {
	return dynamo.New(dynamodb.NewFromConfig(w.aws, opts...), dynamo.Tables{
		Users: w.cfg.UsersTable, LoginThrottle: w.cfg.LoginThrottleTable,
		Sessions: w.cfg.SessionsTable, Revocations: w.cfg.RevocationsTable,
		RevocationFeed: w.cfg.RevocationFeedTable,
	}, dynamo.WithClock(w.set.now))
}

func (w *wiring) signer(ctx context.Context) (*kmssign.Signer, error) {
	s, err := kmssign.New(ctx, kms.NewFromConfig(w.aws), w.cfg.SigningKeyID, w.cfg.RSASigningAlg)
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
		"USERS_TABLE", "LOGIN_THROTTLE_TABLE", "SESSIONS_TABLE", "REVOCATIONS_TABLE", "REVOCATION_FEED_TABLE")
	if err != nil {
		return nil, err
	}
	signer, err := w.signer(ctx)
	if err != nil {
		return nil, err
	}
	mac, err := w.macKey(ctx)
	if err != nil {
		return nil, err
	}
	st := w.store()
	password.Dummy() // the unknown-user hash, computed now rather than on a request
	svc := auth.New(auth.Deps{Signer: signer, Users: st, Sessions: st, Revocations: st, MACKey: mac, Logger: w.set.logger}, w.options())
	return apigw.Login(svc, w.cookie(), w.set.logger), nil
}

// Refresh wires the refresh function.
func Refresh(ctx context.Context, getenv func(string) string, opts ...Option) (apigw.Handler, error) {
	w, err := load(ctx, getenv, opts, "ISSUER", "AUDIENCE", "SIGNING_KEY_ID", "MAC_KEY_ID", "USERS_TABLE", "SESSIONS_TABLE",
		"REVOCATIONS_TABLE", "REVOCATION_FEED_TABLE")
	if err != nil {
		return nil, err
	}
	signer, err := w.signer(ctx)
	if err != nil {
		return nil, err
	}
	mac, err := w.macKey(ctx)
	if err != nil {
		return nil, err
	}
	st := w.store()
	svc := auth.New(auth.Deps{Signer: signer, Sessions: st, Revocations: st, MACKey: mac, Logger: w.set.logger}, w.options())
	return apigw.Refresh(svc, w.cookie(), w.set.logger), nil
}

// Logout wires the logout function (this device).
func Logout(ctx context.Context, getenv func(string) string, opts ...Option) (apigw.Handler, error) {
	w, err := load(ctx, getenv, opts, "SESSIONS_TABLE", "REVOCATIONS_TABLE", "REVOCATION_FEED_TABLE")
	if err != nil {
		return nil, err
	}
	st := w.store()
	svc := auth.New(auth.Deps{Sessions: st, Revocations: st, Logger: w.set.logger}, w.options())
	return apigw.Logout(svc, w.cookie(), w.set.logger), nil
}

// LogoutAll wires the logout-all function.
func LogoutAll(ctx context.Context, getenv func(string) string, opts ...Option) (apigw.Handler, error) {
	w, err := load(ctx, getenv, opts, "REVOCATIONS_TABLE", "REVOCATION_FEED_TABLE")
	if err != nil {
		return nil, err
	}
	st := w.store()
	svc := auth.New(auth.Deps{Revocations: st, Logger: w.set.logger}, w.options())
	return apigw.LogoutAll(svc, w.cookie(), w.set.logger), nil
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
	keys, err := w.verifyKeys(ctx)
	if err != nil {
		return nil, err
	}
	pub := make([]token.PublicKey, len(keys))
	for i, k := range keys {
		pub[i] = k.PublicKey
	}
	// No token of this configuration lives longer than ACCESS_TOKEN_TTL:
	// the replica holds revocations for that long (shared/replica).
	v, err := token.NewVerifier(w.cfg.Issuer, w.cfg.Audience, pub,
		token.WithLeeway(w.cfg.ClockLeeway), token.WithTimeFunc(w.set.now), token.WithMaxLifetime(w.cfg.AccessTokenTTL))
	if err != nil {
		return nil, err
	}
	st := w.store(func(o *dynamodb.Options) { o.RetryMaxAttempts = 2 })
	var lookup auth.RevocationLookup = st
	if w.cfg.RevocationMode == "replica" {
		ro := replica.Options{
			SyncInterval: w.cfg.RevocationSync, MaxStaleness: w.cfg.RevocationMaxStaleness,
			Window: w.cfg.AccessTokenTTL + w.cfg.ClockLeeway, SyncTimeout: w.cfg.AuthorizerStoreTimeout,
			Now: w.set.now, Logger: w.set.logger,
		}
		for _, fn := range w.set.replica {
			fn(&ro)
		}
		r := replica.New(st, ro)
		if err := r.Load(ctx); err != nil {
			// Not fatal: the first requests try again, and deny until then.
			w.set.logger.ErrorContext(ctx, "revocation replica: cold load failed", "err", err)
		}
		lookup = r
	}
	svc := auth.New(auth.Deps{Verifier: token.NewCache(v, token.DefaultCacheSize), Lookup: lookup, Logger: w.set.logger}, w.options())
	return apigw.Authorizer(svc, w.set.logger), nil
}

// Revoke wires the console-invoked revoke function.
func Revoke(ctx context.Context, getenv func(string) string, opts ...Option) (func(context.Context, json.RawMessage) (apigw.RevokeResult, error), error) {
	w, err := load(ctx, getenv, opts, "SESSIONS_TABLE", "REVOCATIONS_TABLE", "REVOCATION_FEED_TABLE")
	if err != nil {
		return nil, err
	}
	st := w.store()
	svc := auth.New(auth.Deps{Sessions: st, Revocations: st, Logger: w.set.logger}, w.options())
	return apigw.Revoke(svc, w.set.logger), nil
}

// Devices wires the device list, GET /auth/sessions: it can only read the
// sessions table's by-user index and the revocation entries.
func Devices(ctx context.Context, getenv func(string) string, opts ...Option) (apigw.Handler, error) {
	w, err := load(ctx, getenv, opts, "SESSIONS_TABLE", "REVOCATIONS_TABLE")
	if err != nil {
		return nil, err
	}
	st := w.store()
	svc := auth.New(auth.Deps{Directory: st, Logger: w.set.logger}, w.options())
	return apigw.Devices(svc, w.set.logger), nil
}

// EndDevice wires DELETE /auth/sessions/{id}: one of the caller's sessions
// ends as a logout ends it.
func EndDevice(ctx context.Context, getenv func(string) string, opts ...Option) (apigw.Handler, error) {
	w, err := load(ctx, getenv, opts, "SESSIONS_TABLE", "REVOCATIONS_TABLE", "REVOCATION_FEED_TABLE")
	if err != nil {
		return nil, err
	}
	st := w.store()
	svc := auth.New(auth.Deps{Sessions: st, Revocations: st, Logger: w.set.logger}, w.options())
	return apigw.EndDevice(svc, w.cookie(), w.set.logger), nil
}
