package apigw

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
)

// TokenResponse is the body of a successful login or refresh (RFC 6749 5.1
// names). RefreshToken is only set for clients that asked for it in the body.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// RefreshTokenInBody: a non-browser client receives the refresh token
	// in the JSON body instead of a cookie.
	RefreshTokenInBody bool `json:"refresh_token_in_body"`
}

// Login handles POST /auth/login.
func Login(svc *auth.Service, ck CookieConfig, log *slog.Logger) Handler {
	return func(ctx context.Context, req Request) (Response, error) {
		ctx, cancel := withReplyReserve(ctx)
		defer cancel()
		var in loginRequest
		if err := decodeJSON(req, &in, false); err != nil {
			return Error(ctx, log, err), nil
		}
		if in.Username == "" || in.Password == "" {
			return Error(ctx, log, badRequest("username and password are required")), nil
		}
		if len(in.Password) > 1024 || len(in.Username) > 256 {
			return Error(ctx, log, badRequest("username or password is too long")), nil
		}
		// A browser gets the refresh token only as an HttpOnly cookie, out of
		// reach of scripts; the body is for clients that are not browsers.
		if in.RefreshTokenInBody && header(req.Headers, "origin") != "" {
			return Error(ctx, log, badRequest("refresh_token_in_body is not available to browsers")), nil
		}
		// A refresh cookie the browser still holds names the session this
		// login replaces. Two different ones (cookie tossing) name none.
		previous, _ := ck.refreshCookie(req)
		ua := req.RequestContext.HTTP.UserAgent
		if ua == "" {
			ua = header(req.Headers, "user-agent")
		}
		t, err := svc.Login(ctx, in.Username, in.Password, previous, auth.UserAgent(ua))
		if err != nil {
			return Error(ctx, log, err), nil
		}
		return tokenResponse(t, ck, in.RefreshTokenInBody, time.Now()), nil
	}
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// Refresh handles POST /auth/refresh. The refresh token comes from the
// cookie (browsers; Origin checked) or the body (other clients), never both.
func Refresh(svc *auth.Service, ck CookieConfig, log *slog.Logger) Handler {
	return func(ctx context.Context, req Request) (Response, error) {
		ctx, cancel := withReplyReserve(ctx)
		defer cancel()
		presented, inBody, err := presentedRefreshToken(req, ck)
		if err != nil {
			return Error(ctx, log, err), nil
		}
		if presented == "" {
			return Fail(401, "invalid_refresh_token", "no refresh token: send the refresh cookie or {\"refresh_token\": ...}"), nil
		}
		t, err := svc.Refresh(ctx, presented)
		if err != nil {
			r := Error(ctx, log, err)
			if !inBody && r.StatusCode == 401 {
				r.Cookies = []string{ck.clearCookie()}
			}
			return r, nil
		}
		return tokenResponse(t, ck, inBody, time.Now()), nil
	}
}

// Logout handles POST /auth/logout: ends this device's session and clears
// the cookie. It answers 204 whether or not the token was still valid.
func Logout(svc *auth.Service, ck CookieConfig, log *slog.Logger) Handler {
	return func(ctx context.Context, req Request) (Response, error) {
		ctx, cancel := withReplyReserve(ctx)
		defer cancel()
		presented, _, err := presentedRefreshToken(req, ck)
		if err != nil {
			return Error(ctx, log, err), nil
		}
		if presented == "" {
			// No token, yet the answer clears the cookie: a page of another
			// site must not be able to sign the browser out by posting here
			// (a top-level form POST may set cookies).
			if err := ck.checkOrigin(req); err != nil {
				return Error(ctx, log, err), nil
			}
		} else if err := svc.Logout(ctx, presented); err != nil {
			return Error(ctx, log, err), nil
		}
		r := NoContent()
		r.Cookies = []string{ck.clearCookie()}
		return r, nil
	}
}

// LogoutAll handles POST /auth/logout-all behind the authorizer: every
// session of the caller ends, on every device, with one write.
func LogoutAll(svc *auth.Service, ck CookieConfig, log *slog.Logger) Handler {
	return protectedRoute(log, func(ctx context.Context, req Request, id Identity) Response {
		if _, err := svc.LogoutAll(ctx, id.Subject); err != nil {
			return Error(ctx, log, err)
		}
		r := NoContent()
		r.Cookies = []string{ck.clearCookie()}
		return r
	})
}

// protectedRoute is a route behind the authorizer that calls DynamoDB: fn
// gets the caller's identity, and a context that ends replyReserve before
// the function's timeout.
func protectedRoute(log *slog.Logger, fn func(ctx context.Context, req Request, id Identity) Response) Handler {
	return func(ctx context.Context, req Request) (Response, error) {
		ctx, cancel := withReplyReserve(ctx)
		defer cancel()
		id, err := IdentityFrom(req)
		if err != nil {
			return Error(ctx, log, err), nil
		}
		return fn(ctx, req, id), nil
	}
}

// DeviceJSON is one session in the device list.
type DeviceJSON struct {
	ID         string    `json:"id"`
	ClientID   string    `json:"client_id"`
	UserAgent  string    `json:"user_agent"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Current    bool      `json:"current"`
}

// DevicesResponse is the body of GET /auth/sessions.
type DevicesResponse struct {
	Sessions  []DeviceJSON `json:"sessions"`
	Truncated bool         `json:"truncated"`
}

// Devices handles GET /auth/sessions behind the authorizer: the caller's
// live sessions, newest first, the caller's own marked current.
func Devices(svc *auth.Service, log *slog.Logger) Handler {
	return protectedRoute(log, func(ctx context.Context, req Request, id Identity) Response {
		devices, truncated, err := svc.Devices(ctx, id.Subject, id.SessionID)
		if err != nil {
			return Error(ctx, log, err)
		}
		body := DevicesResponse{Sessions: []DeviceJSON{}, Truncated: truncated}
		for _, d := range devices {
			body.Sessions = append(body.Sessions, DeviceJSON{
				ID: d.SessionID, ClientID: d.ClientID, UserAgent: d.UserAgent,
				CreatedAt: d.CreatedAt.UTC(), LastUsedAt: d.LastUsedAt.UTC(), ExpiresAt: d.ExpiresAt.UTC(),
				Current: d.Current,
			})
		}
		return JSON(200, body)
	})
}

// EndDevice handles DELETE /auth/sessions/{id} behind the authorizer: one
// of the caller's sessions ends with its access tokens; another user's
// session id is 404, as a missing one. Ending the caller's own session
// also clears its refresh cookie (the browser sends it here: the cookie's
// path /auth covers the route).
func EndDevice(svc *auth.Service, ck CookieConfig, log *slog.Logger) Handler {
	return protectedRoute(log, func(ctx context.Context, req Request, id Identity) Response {
		sid := req.PathParameters["id"]
		if err := svc.EndDevice(ctx, id.Subject, sid); err != nil {
			return Error(ctx, log, err)
		}
		r := NoContent()
		if sid == id.SessionID {
			r.Cookies = []string{ck.clearCookie()}
		}
		return r
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
	return func(ctx context.Context, req Request) (Response, error) {
		h := securityHeaders()
		h["content-type"] = "application/jwk-set+json"
		h["cache-control"] = "public, max-age=" + strconv.Itoa(int(maxAge.Seconds()))
		delete(h, "pragma")
		return Response{StatusCode: 200, Headers: h, Body: string(doc)}, nil
	}
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
	body := TokenResponse{AccessToken: t.AccessToken, TokenType: "Bearer", ExpiresIn: int(t.ExpiresIn.Seconds())}
	if inBody {
		body.RefreshToken = t.RefreshToken
	}
	r := JSON(200, body)
	if !inBody && t.RefreshToken != "" {
		r.Cookies = []string{ck.setCookie(t.RefreshToken, t.RefreshExpiresAt, now)}
	}
	return r
}
