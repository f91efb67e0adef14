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

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// RefreshTokenInBody: a non-browser client receives the refresh token
	// in the JSON body instead of a cookie.
	RefreshTokenInBody bool `json:"refresh_token_in_body"`
}

// Login handles POST /auth/login. Every answer is counted by its outcome
// (metrics.Login). With WithDPoP, a valid DPoP proof binds the session to
// its key (token_type DPoP, RFC 9449 5).
func Login(svc *auth.Login, ck CookieConfig, log *slog.Logger, met *metrics.Recorder, opts ...TokenEndpointOption) Handler {
	e := newTokenEndpoint(opts)
	return func(ctx context.Context, req Request) (Response, error) {
		ctx, cancel := withReplyReserve(ctx)
		defer cancel()
		var in loginRequest
		t, err := login(ctx, svc, ck, e, req, &in)
		var r Response
		if err != nil {
			var o metrics.Outcome
			r, o = answer(ctx, log, met, err)
			met.Login(o)
		} else {
			met.Login(metrics.OK)
			r = tokenResponse(t, ck, in.RefreshTokenInBody, time.Now())
		}
		e.dpop.stamp(&r)
		return r, nil
	}
}

func login(ctx context.Context, svc *auth.Login, ck CookieConfig, e tokenEndpoint, req Request, in *loginRequest) (auth.Tokens, error) {
	if err := decodeJSON(req, in, false); err != nil {
		return auth.Tokens{}, err
	}
	if in.Username == "" || in.Password == "" {
		return auth.Tokens{}, badRequest("username and password are required")
	}
	if len(in.Password) > auth.MaxPasswordBytes || len(in.Username) > auth.MaxUsernameInputBytes {
		return auth.Tokens{}, badRequest("username or password is too long")
	}
	// A browser gets the refresh token only as an HttpOnly cookie, out of
	// reach of scripts; the body is for clients that are not browsers.
	if in.RefreshTokenInBody && header(req.Headers, "origin") != "" {
		return auth.Tokens{}, badRequest("refresh_token_in_body is not available to browsers")
	}
	// The proof is checked before the password: a refused one costs no
	// argon2id work and no attempt.
	jkt, err := e.dpop.proofKey(ctx, req, true)
	if err != nil {
		return auth.Tokens{}, err
	}
	// A refresh cookie the browser still holds names the session this
	// login replaces. Two different ones (cookie tossing) name none.
	previous, _ := ck.refreshCookie(req)
	// The session list names the session by its browser (API Gateway's
	// requestContext.http.userAgent; the header elsewhere).
	ua := req.RequestContext.HTTP.UserAgent
	if ua == "" {
		ua = header(req.Headers, "user-agent")
	}
	return svc.Login(ctx, in.Username, in.Password, previous, auth.WithUserAgent(ua), auth.WithDPoPKey(jkt))
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// Refresh handles POST /auth/refresh. The refresh token comes from the
// cookie (browsers; Origin checked) or the body (other clients), never both.
// A form body (application/x-www-form-urlencoded) makes it the RFC 6749
// token endpoint (tokenGrant); any other body is the service's JSON. Every
// answer is counted by its outcome (metrics.Refresh). With WithDPoP, the
// DPoP proof the request carries is held to the session's binding (RFC
// 9449 5, auth.Refresh).
func Refresh(svc *auth.Refresh, ck CookieConfig, log *slog.Logger, met *metrics.Recorder, opts ...TokenEndpointOption) Handler {
	e := newTokenEndpoint(opts)
	return func(ctx context.Context, req Request) (Response, error) {
		ctx, cancel := withReplyReserve(ctx)
		defer cancel()
		var r Response
		if isForm(req) {
			r = tokenGrant(ctx, svc, ck, log, met, e, req)
		} else {
			r = refreshJSON(ctx, svc, ck, log, met, e, req)
		}
		e.dpop.stamp(&r)
		return r, nil
	}
}

// refreshJSON is /auth/refresh in the service's JSON dialect.
func refreshJSON(ctx context.Context, svc *auth.Refresh, ck CookieConfig, log *slog.Logger, met *metrics.Recorder, e tokenEndpoint, req Request) Response {
	presented, inBody, err := presentedRefreshToken(req, ck)
	if err == nil && presented == "" {
		met.Refresh(metrics.Invalid)
		return Fail(401, "invalid_refresh_token", "no refresh token: send the refresh cookie or {\"refresh_token\": ...}")
	}
	var jkt string
	if err == nil {
		jkt, err = e.dpop.proofKey(ctx, req, false)
	}
	var t auth.Tokens
	if err == nil {
		t, err = svc.Refresh(ctx, presented, auth.WithRefreshDPoPKey(jkt))
	}
	if err != nil {
		r, o := answer(ctx, log, met, err)
		met.Refresh(o)
		if presented != "" && !inBody && r.StatusCode == 401 {
			r.Cookies = []string{ck.clearCookie()}
		}
		return r
	}
	met.Refresh(metrics.OK)
	return tokenResponse(t, ck, inBody, time.Now())
}

// tokenGrant is /auth/refresh as the RFC 6749 token endpoint: a form with
// grant_type=refresh_token and refresh_token (section 6), answered with
// the section 5.1 body (the next refresh token in it, no cookie) or a
// section 5.2 error. Clients are public: client authentication is refused
// (invalid_client), a client_id parameter is unauthenticated and not used,
// and the refresh cookie may not come along (the token is in the body).
// The 409 and 503 answers of the JSON dialect stay as they are.
func tokenGrant(ctx context.Context, svc *auth.Refresh, ck CookieConfig, log *slog.Logger, met *metrics.Recorder, e tokenEndpoint, req Request) Response {
	fail := func(err error) Response { // counted as the JSON dialect counts
		r, o := oauthReply(ctx, log, err)
		if o == metrics.Unavailable {
			met.DependencyError(dependency(err))
		}
		met.Refresh(o)
		return r
	}
	p, err := decodeForm(req)
	if err != nil {
		return fail(err)
	}
	if header(req.Headers, "authorization") != "" {
		return fail(invalidClient())
	}
	switch g := p.Get("grant_type"); g {
	case "refresh_token":
	case "":
		return fail(badRequest("grant_type is required (RFC 6749 6: grant_type=refresh_token)"))
	default:
		return fail(&requestError{400, "unsupported_grant_type",
			"only grant_type=refresh_token is supported here; log in with POST /auth/login"})
	}
	presented := p.Get("refresh_token")
	if presented == "" {
		return fail(badRequest("refresh_token is required (RFC 6749 6)"))
	}
	cookie, err := ck.refreshCookie(req)
	if err == nil && cookie != "" {
		err = badRequest("send the refresh token in the cookie or in the body, not both")
	}
	if err != nil {
		return fail(err)
	}
	jkt, err := e.dpop.proofKey(ctx, req, false)
	if err != nil {
		return fail(err)
	}
	t, err := svc.Refresh(ctx, presented, auth.WithRefreshDPoPKey(jkt))
	if err != nil {
		return fail(err)
	}
	met.Refresh(metrics.OK)
	return tokenResponse(t, ck, true, time.Now())
}

// Logout handles POST /auth/logout: ends this device's session and clears
// the cookie. It answers 204 whether or not the token was still valid.
func Logout(svc *auth.Logout, ck CookieConfig, log *slog.Logger, met *metrics.Recorder) Handler {
	return func(ctx context.Context, req Request) (Response, error) {
		ctx, cancel := withReplyReserve(ctx)
		defer cancel()
		presented, _, err := presentedRefreshToken(req, ck)
		if err == nil {
			if presented == "" {
				// No token, yet the answer clears the cookie: a page of
				// another site must not be able to sign the browser out by
				// posting here (a top-level form POST may set cookies).
				err = ck.checkOrigin(req)
			} else {
				err = svc.Logout(ctx, presented)
			}
		}
		if err != nil {
			r, _ := answer(ctx, log, met, err)
			return r, nil
		}
		r := NoContent()
		r.Cookies = []string{ck.clearCookie()}
		return r, nil
	}
}

// LogoutAll handles POST /auth/logout-all behind the authorizer: every
// session of the caller ends, on every device, with one write.
func LogoutAll(svc *auth.LogoutAll, ck CookieConfig, log *slog.Logger, met *metrics.Recorder) Handler {
	return protectedRoute(log, met, func(ctx context.Context, req Request, id Identity) (Response, error) {
		if _, err := svc.LogoutAll(ctx, id.Subject); err != nil {
			return Response{}, err
		}
		r := NoContent()
		r.Cookies = []string{ck.clearCookie()}
		return r, nil
	})
}

// protectedRoute is a route behind the authorizer that calls DynamoDB: fn
// gets the caller's identity, and a context that ends replyReserve before
// the function's timeout; an error it returns is answered (Error) and a
// failed dependency counted.
func protectedRoute(log *slog.Logger, met *metrics.Recorder, fn func(ctx context.Context, req Request, id Identity) (Response, error)) Handler {
	return func(ctx context.Context, req Request) (Response, error) {
		ctx, cancel := withReplyReserve(ctx)
		defer cancel()
		id, err := IdentityFrom(req)
		var r Response
		if err == nil {
			r, err = fn(ctx, req, id)
		}
		if err != nil {
			r, _ = answer(ctx, log, met, err)
		}
		return r, nil
	}
}

// SessionJSON is one session in the session list.
type SessionJSON struct {
	ID         string    `json:"id"`
	ClientID   string    `json:"client_id"`
	UserAgent  string    `json:"user_agent"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Current    bool      `json:"current"`
}

// SessionsResponse is the body of GET /auth/sessions.
type SessionsResponse struct {
	Sessions  []SessionJSON `json:"sessions"`
	Truncated bool          `json:"truncated"`
}

// Sessions handles GET /auth/sessions behind the authorizer: the caller's
// live sessions, newest first, the caller's own marked current.
func Sessions(list *auth.SessionList, log *slog.Logger, met *metrics.Recorder) Handler {
	return protectedRoute(log, met, func(ctx context.Context, req Request, id Identity) (Response, error) {
		sessions, truncated, err := list.List(ctx, id.Subject, id.SessionID)
		if err != nil {
			return Response{}, err
		}
		body := SessionsResponse{Sessions: []SessionJSON{}, Truncated: truncated}
		for _, d := range sessions {
			body.Sessions = append(body.Sessions, SessionJSON{
				ID: d.SessionID, ClientID: d.ClientID, UserAgent: d.UserAgent,
				CreatedAt: d.CreatedAt.UTC(), LastUsedAt: d.LastUsedAt.UTC(), ExpiresAt: d.ExpiresAt.UTC(),
				Current: d.Current,
			})
		}
		return JSON(200, body), nil
	})
}

// EndSession handles DELETE /auth/sessions/{id} behind the authorizer: one
// of the caller's sessions ends with its access tokens; another user's
// session id is 404, as a missing one. Ending the caller's own session
// also clears its refresh cookie (the browser sends it here: the cookie's
// path /auth covers the route).
func EndSession(end *auth.SessionEnd, ck CookieConfig, log *slog.Logger, met *metrics.Recorder) Handler {
	return protectedRoute(log, met, func(ctx context.Context, req Request, id Identity) (Response, error) {
		sid := req.PathParameters["id"]
		if err := end.End(ctx, id.Subject, sid); err != nil {
			return Response{}, err
		}
		r := NoContent()
		if sid == id.SessionID {
			r.Cookies = []string{ck.clearCookie()}
		}
		return r, nil
	})
}

// Me handles GET /me, a protected demo route: it echoes the identity the
// authorizer passed on.
func Me(log *slog.Logger) Handler {
	return func(ctx context.Context, req Request) (Response, error) {
		id, err := IdentityFrom(req)
		if err != nil {
			return Error(ctx, log, err), nil
		}
		return JSON(200, id), nil
	}
}

// JWKS handles GET /.well-known/jwks.json with a document built at init.
// Caches may keep it for maxAge: keep a retired key in VERIFY_KEY_IDS for at
// least that long plus the access token lifetime.
func JWKS(doc []byte, maxAge time.Duration) Handler {
	return WellKnown(doc, "application/jwk-set+json", maxAge)
}

func presentedRefreshToken(req Request, ck CookieConfig) (token string, inBody bool, err error) {
	var in refreshRequest
	if err := decodeJSON(req, &in, true); err != nil {
		return "", false, err
	}
	cookie, err := ck.refreshCookie(req)
	if err != nil {
		return "", false, err
	}
	switch {
	case in.RefreshToken != "" && cookie != "":
		return "", false, badRequest("send the refresh token in the cookie or in the body, not both")
	case in.RefreshToken != "":
		return in.RefreshToken, true, nil
	case cookie != "":
		if err := ck.checkOrigin(req); err != nil {
			return "", false, err
		}
		return cookie, false, nil
	}
	return "", false, nil
}

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
