// Package guard protects a Go HTTP service that runs outside API Gateway
// (ECS, EKS, a Lambda behind an ALB, a laptop) with this service's access
// tokens, exactly as the API Gateway authorizer does:
//
//   - the same strict checks (shared/token: RFC 8725, RFC 9068 section 4),
//     with the verified-token cache;
//   - the keys from the JWKS endpoint, fetched at start (New fails without
//     them), kept for the document's max-age, and fetched again on sight of
//     an unknown kid (a key rotation), at most once per 30 s; from that
//     https URL only, never from where a redirect points;
//   - revocations from the same per-process replica of the revocation feed
//     (shared/replica; dynamo.FeedReplica builds one over DynamoDB), so a revoked
//     token is refused within the replica's sync interval (1 s), and the
//     service keeps deciding through a DynamoDB outage up to the replica's
//     staleness bound, then refuses.
//
// Guard.Middleware answers what RFC 6750 section 3 asks of a resource
// server: 401 with WWW-Authenticate: Bearer (error="invalid_token" for a
// bad, expired or revoked token), 503 when revocations cannot be checked.
// With Config.PublicOrigin it also takes DPoP-bound tokens with their
// proofs (RFC 9449 section 7): dpop.go.
package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dpop"
	"github.com/authkit/lambda-auth/shared/token"
)

// Config is what a Guard needs. Issuer, Audience and MaxLifetime are the
// stack's Issuer, Audience and AccessTokenTTL parameters.
type Config struct {
	Issuer   string
	Audience string
	// JWKSURL is the stack's JWKS endpoint (the JwksUrl output).
	JWKSURL string
	// Revocations answers whether a token is revoked: a replica of the
	// revocation feed (dynamo.FeedReplica) in production. Required.
	Revocations auth.RevocationLookup
	// MaxLifetime refuses tokens living longer than the stack issues
	// (AccessTokenTTL): a replica holds revocations for that long only.
	MaxLifetime time.Duration
	Leeway      time.Duration // clock skew allowed on exp, nbf, iat; 10 s by default
	// StoreTimeout bounds a revocation lookup that reads a store (not a
	// replica, which bounds its own reads); 800 ms by default.
	StoreTimeout time.Duration
	// HTTPClient fetches the JWKS; a client with a 5 s timeout by default.
	// The Guard uses a copy that follows no redirect: JWKSURL names the
	// document exactly, and a redirect (to http, or to another host) is
	// refused with its status.
	HTTPClient *http.Client
	Logger     *slog.Logger     // nil: slog.Default()
	Now        func() time.Time // nil: time.Now
	// PublicOrigin is the scheme and host clients address this service
	// at ("https://api.example.com"): a DPoP proof names the request's URL
	// (RFC 9449 4.3 step 9), which the Guard builds from it and the
	// request's path, never from the Host or X-Forwarded-* headers a
	// client may set. Empty: DPoP-bound tokens are refused (the DPoP
	// scheme is not taken); bearer tokens work as before.
	PublicOrigin string
	// RequireDPoP refuses every access token bound to no key (no
	// cnf.jkt), as Bearer or DPoP: set it when the stack's DPoPMode is
	// required, so that tokens minted before the switch stop working as
	// bearer tokens (RFC 9449 7.1, 7.2; auth.ResourceAuthorizer.RequireBound).
	// Needs PublicOrigin; Verify (the bearer check) then refuses every token.
	RequireDPoP bool
	// DPoPReplay records the DPoP proofs accepted, to refuse one sent
	// again (RFC 9449 11.1). nil: a dpop.MemoryReplay of this process,
	// which accepts a proof once per process; a store shared by every
	// replica of the service (dynamo.DPoPReplay over a table like the
	// stack's ProofReplayTable) accepts it once in all.
	DPoPReplay dpop.Replay
}

// minRefetch is how often an unknown kid may make the Guard fetch the
// JWKS again: a rotation is picked up at once, a flood of made-up kids
// costs one fetch per 30 s.
const minRefetch = 30 * time.Second

// Guard verifies access tokens. It is safe for concurrent use.
type Guard struct {
	cfg Config
	svc *auth.Authorizer
	res *auth.ResourceAuthorizer // svc, with the DPoP scheme when PublicOrigin is set
	// dpopAlgs are the DPoP proof algorithms taken, space-separated (the
	// DPoP challenge's algs); "" without DPoP.
	dpopAlgs string

	keys       atomic.Pointer[keySet]
	refetchMu  sync.Mutex  // one JWKS fetch at a time
	refreshing atomic.Bool // a background refresh of a stale JWKS is running
}

// keySet is one fetched JWKS with its verifier.
type keySet struct {
	cache     *token.Cache
	fetchedAt time.Time
	maxAge    time.Duration
}

// New fetches the JWKS and returns a Guard; it fails when the JWKS cannot
// be fetched or holds no usable key (fail closed from the start).
func New(ctx context.Context, cfg Config) (*Guard, error) {
	if cfg.Issuer == "" || cfg.Audience == "" || cfg.JWKSURL == "" {
		return nil, errors.New("guard: Issuer, Audience and JWKSURL are required")
	}
	if u, err := url.Parse(cfg.JWKSURL); err != nil || !(u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil, fmt.Errorf("guard: JWKSURL %q: an https URL (http only on localhost): whoever can change the keys in transit can mint tokens", cfg.JWKSURL)
	}
	if cfg.Revocations == nil {
		return nil, errors.New("guard: Revocations is required (dynamo.FeedReplica): without it a revoked token is accepted until it expires")
	}
	if cfg.MaxLifetime <= 0 {
		return nil, errors.New("guard: MaxLifetime is required: the stack's AccessTokenTTL")
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 10 * time.Second
	}
	// A replica holds revocations for its window only: a token the Guard
	// accepts must not outlive it.
	// (auth.RevocationLookup.Window; the table itself answers
	// auth.NoWindowLimit, and a replica built without a Window answers 0,
	// which is refused here.)
	if w := cfg.Revocations.Window(); w < cfg.MaxLifetime+2*cfg.Leeway {
		return nil, fmt.Errorf("guard: the revocation replica keeps %s, less than MaxLifetime + 2 × Leeway (%s): give dynamo.FeedReplica the same lifetime and leeway",
			w, cfg.MaxLifetime+2*cfg.Leeway)
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 800 * time.Millisecond
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	// A copy, so the caller's client keeps its own policy elsewhere: the
	// keys come from exactly JWKSURL (checked https above), never from
	// where a 3xx (RFC 9110 15.4) points, which could be plain http or
	// another host: trust in the configured URL must not extend to
	// wherever it sends us.
	client := *cfg.HTTPClient
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.HTTPClient = &client
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Guard{cfg: cfg}
	if err := g.fetch(ctx); err != nil {
		return nil, err
	}
	// Every lookup runs within StoreTimeout, whatever it is: a replica's
	// sync already stops at its own SyncTimeout (and runs on after a
	// request gives up), and a lookup that reads a store per request must
	// not hang a request.
	g.svc = auth.NewAuthorizer(verifierFunc(g.verify), cfg.Revocations, cfg.StoreTimeout, auth.Options{Logger: cfg.Logger, Now: cfg.Now})
	proofs, err := g.proofVerifier()
	if err != nil {
		return nil, err
	}
	g.res = auth.NewResourceAuthorizer(g.svc, proofs)
	if cfg.RequireDPoP {
		if proofs == nil {
			return nil, errors.New("guard: RequireDPoP needs PublicOrigin (else no token could pass)")
		}
		g.res.RequireBound()
	}
	return g, nil
}

// fetch reads the JWKS and installs its keys.
func (g *Guard) fetch(ctx context.Context) error {
	keys, maxAge, skipped, err := fetchJWKS(ctx, g.cfg.HTTPClient, g.cfg.JWKSURL)
	for _, s := range skipped {
		g.cfg.Logger.WarnContext(ctx, "guard: JWKS key left out", "why", s)
	}
	if err != nil {
		return fmt.Errorf("guard: %w", err)
	}
	v, err := token.NewVerifier(g.cfg.Issuer, g.cfg.Audience, keys, token.WithLeeway(g.cfg.Leeway),
		token.WithTimeFunc(g.cfg.Now), token.WithMaxLifetime(g.cfg.MaxLifetime))
	if err != nil {
		return fmt.Errorf("guard: %w", err)
	}
	g.keys.Store(&keySet{cache: token.NewCache(v, token.DefaultCacheSize), fetchedAt: g.cfg.Now(), maxAge: maxAge})
	return nil
}

// refetch fetches the JWKS again if the current one is older than after.
// A failure keeps the keys there are.
func (g *Guard) refetch(after time.Duration) {
	g.refetchMu.Lock()
	defer g.refetchMu.Unlock()
	if g.cfg.Now().Sub(g.keys.Load().fetchedAt) < after {
		return // fetched meanwhile
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.fetch(ctx); err != nil {
		g.cfg.Logger.WarnContext(ctx, "guard: JWKS refresh failed, keeping the keys there are", "err", err)
		// Do not try again on every request: wait as for an unknown kid.
		ks := *g.keys.Load()
		ks.fetchedAt, ks.maxAge = g.cfg.Now(), minRefetch
		g.keys.Store(&ks)
	}
}

// verify is the token check: the cached verifier of the current key set,
// the key set fetched again when stale (in the background: requests go on
// with the keys there are) or when the kid is unknown (this request waits).
func (g *Guard) verify(raw string) (*token.Claims, error) {
	ks := g.keys.Load()
	if g.cfg.Now().Sub(ks.fetchedAt) > ks.maxAge && g.refreshing.CompareAndSwap(false, true) {
		go func() {
			defer g.refreshing.Store(false)
			g.refetch(ks.maxAge)
		}()
	}
	c, err := ks.cache.Verify(raw)
	if errors.Is(err, token.ErrUnknownKey) && g.cfg.Now().Sub(ks.fetchedAt) >= minRefetch {
		g.refetch(minRefetch)
		c, err = g.keys.Load().cache.Verify(raw)
	}
	return c, err
}

type verifierFunc func(string) (*token.Claims, error)

func (f verifierFunc) Verify(raw string) (*token.Claims, error) { return f(raw) }

// Verify checks an access token (the compact JWS, without "Bearer "):
// signature and claims, then revocation. Errors wrap auth.ErrInvalidToken,
// auth.ErrRevoked or auth.ErrUnavailable (revocations could not be
// checked: refuse, and let the client retry), and come without claims.
// It is the bearer check: a DPoP-bound token (cnf.jkt) is refused with
// auth.ErrDPoPBinding, as RFC 9449 7.2 requires; Middleware checks the
// proof such a token needs. With RequireDPoP every token is refused.
func (g *Guard) Verify(ctx context.Context, raw string) (*token.Claims, error) {
	c, err := g.svc.Authorize(ctx, raw)
	if err != nil {
		return nil, err
	}
	if c.BoundKey() != "" {
		return nil, fmt.Errorf("%w: %w: a DPoP-bound token (cnf.jkt) checked as a bearer token (RFC 9449 7.2)", auth.ErrInvalidToken, auth.ErrDPoPBinding)
	}
	if g.cfg.RequireDPoP {
		return nil, fmt.Errorf("%w: %w: %w (RFC 9449 7.1, 7.2)", auth.ErrInvalidToken, auth.ErrDPoPBinding, auth.ErrUnboundToken)
	}
	return c, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type claimsKey struct{}

// ClaimsFrom returns the claims Middleware put in the request's context.
// They are shared: read them, never change them.
func ClaimsFrom(ctx context.Context) (*token.Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*token.Claims)
	return c, ok
}

// Middleware lets a request through to next only with a valid, unrevoked
// access token in its Authorization header (exactly one): "Bearer
// <token>" (RFC 6750 2.1) for a bearer token, or, when PublicOrigin is
// set, "DPoP <token>" with exactly one DPoP proof header for a DPoP-bound
// one (RFC 9449 7.1); a DPoP-bound token sent as Bearer is refused (RFC
// 9449 7.2). It puts the token's claims in the request's context
// (ClaimsFrom). Otherwise it answers as RFC 6750 3.1 and RFC 9449 7.1
// say: 401 with a WWW-Authenticate challenge of the scheme used (Bearer,
// or DPoP with the algorithms taken), error="invalid_token" for a bad
// token and error="invalid_dpop_proof" for a bad proof; 400 for a
// malformed Authorization header; 503 with Retry-After when revocations
// (or the replay store) could not be checked. The body is JSON {"error",
// "error_description"}; the log line names the reason, never the token
// nor the proof.
func (g *Guard) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := r.Header.Values("Authorization")
		if len(hdr) == 0 {
			g.refuse(w, http.StatusUnauthorized, auth.NoScheme, "", "invalid_request", "an access token is required: Authorization: Bearer <token>")
			return
		}
		scheme, ok := auth.NoScheme, len(hdr) == 1
		if ok {
			scheme, _, ok = auth.ParseAuthorization(hdr[0])
		}
		if !ok { // RFC 6750 3.1: a malformed request is 400 invalid_request
			g.refuse(w, http.StatusBadRequest, scheme, "invalid_request", "invalid_request", "give one Authorization header: Bearer <token> (or DPoP <token>)")
			return
		}
		req := auth.ResourceRequest{Authorization: hdr[0], Proofs: r.Header.Values("DPoP"), Method: r.Method,
			URL: func() (string, error) { return g.cfg.PublicOrigin + r.URL.EscapedPath(), nil }}
		c, err := g.res.Authorize(r.Context(), req)
		switch {
		case errors.Is(err, auth.ErrUnavailable):
			g.cfg.Logger.ErrorContext(r.Context(), "guard: refused, revocations or DPoP proofs cannot be checked (fail closed)", "err", err)
			w.Header().Set("Retry-After", "1")
			g.refuse(w, http.StatusServiceUnavailable, auth.NoScheme, "", "temporarily_unavailable", "the token cannot be checked right now; retry")
			return
		case errors.Is(err, dpop.ErrInvalidProof), errors.Is(err, dpop.ErrUseNonce):
			g.cfg.Logger.InfoContext(r.Context(), "guard: refused", "reason", err.Error())
			g.refuse(w, http.StatusUnauthorized, auth.DPoP, "invalid_dpop_proof", "invalid_dpop_proof", "the DPoP proof is missing or invalid")
			return
		case err != nil:
			g.cfg.Logger.InfoContext(r.Context(), "guard: refused", "reason", err.Error())
			g.refuse(w, http.StatusUnauthorized, scheme, "invalid_token", "invalid_token", "the access token is invalid, expired or revoked")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	})
}

// refuse answers with status, a challenge of scheme (NoScheme: every
// scheme taken) carrying the error code challengeErr when not "", and
// the JSON error code and description.
func (g *Guard) refuse(w http.ResponseWriter, status int, scheme auth.Scheme, challengeErr, code, description string) {
	if status == http.StatusUnauthorized || status == http.StatusBadRequest {
		w.Header().Set("WWW-Authenticate", g.challenge(scheme, challengeErr))
	}
	refuse(w, status, "", code, description)
}

func refuse(w http.ResponseWriter, status int, challenge, code, description string) {
	if challenge != "" {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(map[string]string{"error": code, "error_description": strings.TrimSpace(description)})
}
