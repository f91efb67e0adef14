package apigw

import (
	"context"
	"log/slog"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/metrics"
)

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
	e := newTokenEndpoint(ck, log, met, opts)
	return e.signIn(met.Login, func(req Request) (signInRequest, error) {
		var in loginRequest
		if err := decodeJSON(req, &in, false); err != nil {
			return signInRequest{}, err
		}
		if in.Username == "" || in.Password == "" {
			return signInRequest{}, badRequest("username and password are required")
		}
		if len(in.Password) > auth.MaxPasswordBytes || len(in.Username) > auth.MaxUsernameInputBytes {
			return signInRequest{}, badRequest("username or password is too long")
		}
		ua := userAgent(req)
		start := func(ctx context.Context, previous, jkt string) (auth.Tokens, error) {
			return svc.Login(ctx, in.Username, in.Password, previous, auth.WithUserAgent(ua), auth.WithDPoPKey(jkt))
		}
		return signInRequest{refreshTokenInBody: in.RefreshTokenInBody, start: start}, nil
	})
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
	e := newTokenEndpoint(ck, log, met, opts)
	return e.handler(func(ctx context.Context, req Request) Response {
		if isForm(req) {
			return e.tokenGrant(ctx, svc, req)
		}
		return e.refreshJSON(ctx, svc, req)
	})
}

// refreshJSON is /auth/refresh in the service's JSON dialect.
func (e *tokenEndpoint) refreshJSON(ctx context.Context, svc *auth.Refresh, req Request) Response {
	presented, inBody, err := presentedRefreshToken(req, e.ck)
	if err == nil && presented == "" {
		e.met.Refresh(metrics.Invalid)
		return Fail(401, "invalid_refresh_token", "no refresh token: send the refresh cookie or {\"refresh_token\": ...}")
	}
	var t auth.Tokens
	if err == nil {
		t, err = e.refresh(ctx, svc, req, presented)
	}
	if err != nil {
		r, o := answer(ctx, e.log, e.met, err)
		e.met.Refresh(o)
		if presented != "" && !inBody && r.StatusCode == 401 {
			r.Cookies = []string{e.ck.clearCookie()}
		}
		return r
	}
	e.met.Refresh(metrics.OK)
	return tokenResponse(t, e.ck, inBody, time.Now())
}

// tokenGrant is /auth/refresh as the RFC 6749 token endpoint: a form with
// grant_type=refresh_token and refresh_token (section 6), answered with
// the section 5.1 body (the next refresh token in it, no cookie) or a
// section 5.2 error. Clients are public: client authentication is refused
// (invalid_client), a client_id parameter is unauthenticated and not used,
// and the refresh cookie may not come along (the token is in the body).
// The 409 and 503 answers of the JSON dialect stay as they are.
func (e *tokenEndpoint) tokenGrant(ctx context.Context, svc *auth.Refresh, req Request) Response {
	fail := func(err error) Response { // counted as the JSON dialect counts
		r, o := oauthReply(ctx, e.log, err)
		if o == metrics.Unavailable {
			e.met.DependencyError(dependency(err))
		}
		e.met.Refresh(o)
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
	cookie, err := e.ck.refreshCookie(req)
	if err == nil && cookie != "" {
		err = badRequest("send the refresh token in the cookie or in the body, not both")
	}
	if err != nil {
		return fail(err)
	}
	t, err := e.refresh(ctx, svc, req, presented)
	if err != nil {
		return fail(err)
	}
	e.met.Refresh(metrics.OK)
	return tokenResponse(t, e.ck, true, time.Now())
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

// ByRoute sends a request to the handler of its route key (API Gateway's
// routeKey, "METHOD /path"), and any other to def: one function serving
// several routes.
func ByRoute(def Handler, routes map[string]Handler) Handler {
	return func(ctx context.Context, req Request) (Response, error) {
		if h, ok := routes[req.RouteKey]; ok {
			return h(ctx, req)
		}
		return def(ctx, req)
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
