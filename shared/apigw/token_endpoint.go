package apigw

import (
	"context"
	"log/slog"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/metrics"
)

// TokenResponse is the body of a successful login or refresh (RFC 6749
// 5.1). RefreshToken is only set for clients that asked for it in the
// body. Scope is the session's: a scope requested at refresh is not
// narrowed (RFC 6749 3.3 lets the server ignore it, and then requires
// scope in the response).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// TokenEndpointOption configures the token endpoints: Login, LoginMFA,
// Refresh and PasskeySignIn.
type TokenEndpointOption func(*tokenEndpoint)

// WithDPoP makes the token endpoints read DPoP proofs with d. Without it the
// DPoP header is ignored, and a session bound to a key cannot be refreshed.
func WithDPoP(d *DPoP) TokenEndpointOption {
	return func(e *tokenEndpoint) { e.dpop = d }
}

// tokenEndpoint is what every route that hands out tokens does alike:
// the DPoP proof (RFC 9449 4.3, 5) and the nonce on every answer (8.2),
// the refresh token in its cookie or in the body, token_type DPoP or
// Bearer, and the answers counted. Login, LoginMFA and PasskeySignIn are
// signIn with their own reading of the body; Refresh is refreshJSON and
// tokenGrant over refresh.
type tokenEndpoint struct {
	ck   CookieConfig
	log  *slog.Logger
	met  *metrics.Recorder
	dpop *DPoP // nil without WithDPoP
}

func newTokenEndpoint(ck CookieConfig, log *slog.Logger, met *metrics.Recorder, opts []TokenEndpointOption) *tokenEndpoint {
	e := &tokenEndpoint{ck: ck, log: log, met: met}
	for _, o := range opts {
		o(e)
	}
	return e
}

// handler is a token endpoint's route: serve answers within the time the
// function has left less replyReserve, and its answer, whatever it is,
// carries the DPoP nonce when nonces are on (stamp).
func (e *tokenEndpoint) handler(serve func(ctx context.Context, req Request) Response) Handler {
	return func(ctx context.Context, req Request) (Response, error) {
		ctx, cancel := withReplyReserve(ctx)
		defer cancel()
		r := serve(ctx, req)
		e.dpop.stamp(&r)
		return r, nil
	}
}

// signInRequest is a sign-in request as its route read it: whether the client
// asked for the refresh token in the body, and the flow that starts the
// session, given the refresh token the browser still holds (previous:
// the session this sign-in replaces) and the RFC 7638 thumbprint of the
// DPoP proof's key ("" without one).
type signInRequest struct {
	refreshTokenInBody bool
	start              func(ctx context.Context, previous, jkt string) (auth.Tokens, error)
}

// signIn is the route of a sign-in that starts a session (a password, a
// second factor, a passkey). read parses and checks the request's body;
// what follows is the same for every sign-in, and each answer is counted
// by count.
func (e *tokenEndpoint) signIn(count func(metrics.Outcome), read func(Request) (signInRequest, error)) Handler {
	return e.handler(func(ctx context.Context, req Request) Response {
		in, t, err := e.startSession(ctx, req, read)
		if err != nil {
			r, o := answer(ctx, e.log, e.met, err)
			count(o)
			return r
		}
		count(metrics.OK)
		return tokenResponse(t, e.ck, in.refreshTokenInBody, time.Now())
	})
}

func (e *tokenEndpoint) startSession(ctx context.Context, req Request, read func(Request) (signInRequest, error)) (signInRequest, auth.Tokens, error) {
	in, err := read(req)
	if err != nil {
		return in, auth.Tokens{}, err
	}
	if err := checkRefreshTokenInBody(req, in.refreshTokenInBody); err != nil {
		return in, auth.Tokens{}, err
	}
	// The proof is checked before the credential (RFC 9449 4.3): a refused
	// one costs no argon2id work and no attempt, takes no challenge (it
	// stays usable with a good proof), reads no credential and starts no
	// session.
	jkt, err := e.dpop.proofKey(ctx, req, true)
	if err != nil {
		return in, auth.Tokens{}, err
	}
	// A refresh cookie the browser still holds names the session this
	// sign-in replaces. Two different ones (cookie tossing) name none.
	previous, _ := e.ck.refreshCookie(req)
	t, err := in.start(ctx, previous, jkt)
	return in, t, err
}

// refresh rotates the presented refresh token, with the request's DPoP
// proof held to the session's binding (RFC 9449 5, auth.Refresh): checked
// in every mode, since a session bound before DPoP was turned off still
// needs a proof of its key.
func (e *tokenEndpoint) refresh(ctx context.Context, svc *auth.Refresh, req Request, presented string) (auth.Tokens, error) {
	jkt, err := e.dpop.proofKey(ctx, req, false)
	if err != nil {
		return auth.Tokens{}, err
	}
	return svc.Refresh(ctx, presented, auth.WithRefreshDPoPKey(jkt))
}

// checkRefreshTokenInBody refuses refresh_token_in_body from a browser: a
// browser gets the refresh token only as an HttpOnly cookie, out of reach
// of scripts; the body is for clients that are not browsers.
func checkRefreshTokenInBody(req Request, asked bool) error {
	if asked && header(req.Headers, "origin") != "" {
		return badRequest("refresh_token_in_body is not available to browsers")
	}
	return nil
}

// userAgent names the device a session starts on, for the session list:
// API Gateway's requestContext.http.userAgent, the header elsewhere.
func userAgent(req Request) string {
	if ua := req.RequestContext.HTTP.UserAgent; ua != "" {
		return ua
	}
	return header(req.Headers, "user-agent")
}

// tokenResponse is a token answer: the refresh token in the body when
// inBody, else in its cookie; token_type DPoP or Bearer (tokenType).
func tokenResponse(t auth.Tokens, ck CookieConfig, inBody bool, now time.Time) Response {
	body := TokenResponse{AccessToken: t.AccessToken, TokenType: tokenType(t), ExpiresIn: int(t.ExpiresIn.Seconds()), Scope: t.Scope}
	if inBody {
		body.RefreshToken = t.RefreshToken
	}
	r := JSON(200, body)
	if !inBody && t.RefreshToken != "" {
		r.Cookies = []string{ck.setCookie(t.RefreshToken, t.RefreshExpiresAt, now)}
	}
	return r
}

// tokenType is the token_type of a token response (RFC 6749 5.1): DPoP for
// an access token bound to a key (RFC 9449 5), Bearer otherwise.
func tokenType(t auth.Tokens) string {
	if t.JKT != "" {
		return "DPoP"
	}
	return "Bearer"
}
