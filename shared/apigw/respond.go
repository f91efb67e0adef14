// Package apigw adapts the auth service to API Gateway: HTTP API (payload
// 2.0) requests and responses, the refresh cookie, the one mapping of errors
// to statuses, and the authorizer's responses for HTTP APIs (simple) and
// REST APIs (IAM policy).
package apigw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/metrics"
)

// Request and Response are the HTTP API payload 2.0 shapes.
type (
	Request  = events.APIGatewayV2HTTPRequest
	Response = events.APIGatewayV2HTTPResponse
)

// Handler is an HTTP API route handler.
type Handler func(ctx context.Context, req Request) (Response, error)

// ErrorBody is every error response: a stable code (RFC 6749 5.2 "error"),
// a short text in error_description (RFC 6749 5.2: printable ASCII
// without '"' and '\\'), and the same text, byte for byte, as message, the
// member clients written before error_description read.
type ErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	Message          string `json:"message"`
	// SessionEnded is how the session of a refresh token ended (refresh's
	// 401 invalid_refresh_token only; auth.SessionEndedError): "expired",
	// "ended", "logout-all" or "revoked".
	SessionEnded string `json:"session_ended,omitempty"`
	// MFAToken and ExpiresIn come with 403 mfa_required (a password login
	// of a user with a second factor, as Auth0 answers it): the challenge
	// to send to POST /auth/login/mfa with the code, and its lifetime in
	// seconds.
	MFAToken  string `json:"mfa_token,omitempty"`
	ExpiresIn int    `json:"expires_in,omitempty"`
}

// securityHeaders go on every response: nothing here may be cached by a
// browser or proxy (RFC 6749 5.1 asks for no-store on token responses) or
// sniffed as something else.
func securityHeaders() map[string]string {
	return map[string]string{
		"content-type":           "application/json",
		"cache-control":          "no-store",
		"pragma":                 "no-cache",
		"x-content-type-options": "nosniff",
	}
}

// JSON is a response with body v.
func JSON(status int, v any) Response {
	b, err := json.Marshal(v)
	if err != nil {
		return Response{StatusCode: 500, Headers: securityHeaders(),
			Body: `{"error":"internal_error","error_description":"internal error","message":"internal error"}`}
	}
	return Response{StatusCode: status, Headers: securityHeaders(), Body: string(b)}
}

// NoContent is a 204.
func NoContent() Response {
	h := securityHeaders()
	delete(h, "content-type")
	return Response{StatusCode: 204, Headers: h}
}

// Fail is a JSON error response.
func Fail(status int, code, message string) Response {
	d := Description(message)
	return JSON(status, ErrorBody{Error: code, ErrorDescription: d, Message: d})
}

// Description is message as RFC 6749 5.2 allows error_description to be:
// the characters %x20-21 / %x23-5B / %x5D-7E. A double quote becomes a
// single one, a backslash a slash, anything else outside the set a space.
func Description(message string) string {
	b := []byte(message)
	for i, c := range b {
		switch {
		case c == '"':
			b[i] = '\''
		case c == '\\':
			b[i] = '/'
		case c < 0x20 || c > 0x7e:
			b[i] = ' '
		}
	}
	return string(b)
}

// requestError is a client mistake found while reading the request.
type requestError struct {
	status  int
	code    string
	message string
}

func (e *requestError) Error() string { return e.message }

func badRequest(msg string) error { return &requestError{400, "invalid_request", msg} }

func invalidClient() error {
	return &requestError{401, "invalid_client", "this endpoint takes no client authentication: send no Authorization header (public client, token_endpoint_auth_method none)"}
}

// OAuthError maps err as Error does, in the dialect of OAuth 2.0 endpoints
// (RFC 6749 5.2, RFC 7009 2.2.1, RFC 7662 2.3): a refresh token that is
// invalid, expired, revoked or reused is 400 invalid_grant; a client that
// authenticated with an Authorization header gets 401 invalid_client with
// WWW-Authenticate naming the scheme it used (RFC 6749 5.2); every other
// answer is Error's.
func OAuthError(ctx context.Context, log *slog.Logger, err error) Response {
	r, _ := oauthReply(ctx, log, err)
	return r
}

// oauthReply is OAuthError with the outcome the answer stands for.
func oauthReply(ctx context.Context, log *slog.Logger, err error) (Response, metrics.Outcome) {
	f := failureOf(ctx, log, err)
	switch f.code {
	case "invalid_refresh_token":
		f.status, f.code = 400, "invalid_grant"
	case "invalid_client":
		f.header("www-authenticate", `Basic realm="lambda-auth"`)
	}
	return f.response(), f.outcome
}

// Error maps err to the response the client sees. This is the only place
// that decides statuses (failureOf; OAuthError renames two of them for OAuth
// clients): client errors get a stable code and a short message; anything
// else is logged in full and answered without detail (503 when a
// dependency failed, 500 otherwise).
func Error(ctx context.Context, log *slog.Logger, err error) Response {
	r, _ := reply(ctx, log, err)
	return r
}

// reply is Error, with the outcome the answer stands for in metrics
// (login and refresh count their answers by it).
func reply(ctx context.Context, log *slog.Logger, err error) (Response, metrics.Outcome) {
	f := failureOf(ctx, log, err)
	return f.response(), f.outcome
}

// failure is what an error means to the client, and the outcome it stands
// for in metrics.
type failure struct {
	status        int
	code, message string
	headers       map[string]string
	outcome       metrics.Outcome
	ended         string // ErrorBody.SessionEnded
	mfa           *auth.MFARequiredError
}

func (f *failure) header(k, v string) {
	if f.headers == nil {
		f.headers = map[string]string{}
	}
	f.headers[k] = v
}

func (f failure) response() Response {
	r := Fail(f.status, f.code, f.message)
	if f.ended != "" || f.mfa != nil {
		d := Description(f.message)
		b := ErrorBody{Error: f.code, ErrorDescription: d, Message: d, SessionEnded: f.ended}
		if f.mfa != nil {
			b.MFAToken, b.ExpiresIn = f.mfa.Token, int(f.mfa.ExpiresIn/time.Second)
		}
		r = JSON(f.status, b)
	}
	for k, v := range f.headers {
		r.Headers[k] = v
	}
	return r
}

// failureOf is the answer, status, code and outcome, that err gets; an
// error of no known kind is logged and answered 500.
func failureOf(ctx context.Context, log *slog.Logger, err error) failure {
	var re *requestError
	var te *auth.ThrottledError
	var stale *auth.StaleSignInError
	var mfa *auth.MFARequiredError
	var step *auth.StepUpError
	switch {
	case errors.As(err, &re):
		f := failure{status: re.status, code: re.code, message: re.message, outcome: metrics.InvalidRequest}
		switch re.code {
		case "unauthorized": // a protected route without an access token (RFC 6750 3)
			f.header("www-authenticate", `Bearer realm="lambda-auth"`)
		case "forbidden_origin":
			f.outcome = metrics.Forbidden
		}
		return f
	case errors.As(err, &te):
		f := failure{status: 429, code: "too_many_attempts", message: "too many attempts, or too many revocations by this user; retry later", outcome: metrics.Locked}
		f.header("retry-after", strconv.Itoa(int((te.RetryAfter+time.Second-1)/time.Second)))
		return f
	case errors.As(err, &mfa):
		return failure{status: 403, code: "mfa_required", outcome: metrics.MFARequired, mfa: mfa,
			message: "a second factor is required: POST /auth/login/mfa with mfa_token and a code or recovery_code"}
	case errors.Is(err, auth.ErrCodesLocked):
		return failure{status: 403, code: "mfa_locked", outcome: metrics.Locked,
			message: "too many wrong codes: codes are refused until you sign in with a recovery code (or an operator clears the count, or a day passes without an attempt)"}
	case errors.Is(err, auth.ErrInvalidMFA):
		return failure{status: 401, code: "invalid_mfa", outcome: metrics.InvalidCredentials,
			message: "the code is wrong or already used, or the challenge expired or was used"}
	case errors.As(err, &step):
		f := failure{status: 401, code: "insufficient_user_authentication", message: step.Reason, outcome: metrics.Forbidden}
		f.header("www-authenticate", stepUpChallenge(step))
		return f
	case errors.Is(err, auth.ErrFactorExists):
		return failure{status: 409, code: "factor_exists", message: "a second factor is already active: remove it first", outcome: metrics.InvalidRequest}
	case errors.Is(err, auth.ErrFactorChanged):
		return failure{status: 409, code: "factor_changed", message: "the second factor changed meanwhile (confirmed, removed or replaced): read it again", outcome: metrics.InvalidRequest}
	case errors.Is(err, auth.ErrNoFactor):
		return failure{status: 404, code: "no_factor", message: "no second factor to confirm or remove", outcome: metrics.InvalidRequest}
	case errors.Is(err, auth.ErrInvalidCredentials):
		return failure{status: 401, code: "invalid_credentials", message: "invalid username or password", outcome: metrics.InvalidCredentials}
	case errors.Is(err, auth.ErrInvalidDPoPProof): // RFC 9449 5
		return failure{status: 400, code: "invalid_dpop_proof", message: "send a DPoP proof of the key this session or login began with, or none if it began without (RFC 9449 5)", outcome: metrics.Invalid}
	case errors.Is(err, auth.ErrSessionNotBound): // with ErrInvalidRefreshToken (auth.checkBinding)
		return failure{status: 401, code: "invalid_refresh_token", message: "this session was started without DPoP and cannot be bound now, or DPoP is required: log in again with a DPoP proof", outcome: metrics.Invalid}
	case errors.Is(err, auth.ErrInvalidRefreshToken):
		o := metrics.Invalid
		if errors.Is(err, auth.ErrRefreshTokenReused) {
			o = metrics.ReuseDetected // the same answer: the client cannot tell
		}
		f := failure{status: 401, code: "invalid_refresh_token", message: "refresh token is invalid, expired or revoked; log in again", outcome: o}
		if ended := (*auth.SessionEndedError)(nil); errors.As(err, &ended) {
			f.ended = ended.How
		}
		return f
	case errors.Is(err, auth.ErrRefreshConflict):
		f := failure{status: 409, code: "refresh_conflict", message: "this refresh token was just rotated by another request; retry with the current one", outcome: metrics.Conflict}
		f.header("retry-after", "0")
		return f
	case errors.Is(err, auth.ErrInvalidToken), errors.Is(err, auth.ErrRevoked):
		f := failure{status: 401, code: "invalid_token", message: "access token is invalid or revoked", outcome: metrics.Invalid}
		f.header("www-authenticate", `Bearer realm="lambda-auth", error="invalid_token"`) // RFC 6750 3.1
		return f
	case errors.As(err, &stale):
		// RFC 9470 §3: the sign-in behind the token is too old for this.
		maxAge := int(stale.MaxAge / time.Second)
		f := failure{status: 401, code: "insufficient_user_authentication",
			message: fmt.Sprintf("this needs a sign-in within the last %d seconds; sign in again", maxAge), outcome: metrics.Invalid}
		f.header("www-authenticate", fmt.Sprintf(`Bearer realm="lambda-auth", error="insufficient_user_authentication", error_description="sign in again", max_age=%d`, maxAge))
		return f
	case errors.Is(err, auth.ErrPasskeyRefused):
		return failure{status: 401, code: "passkey_refused", message: "the passkey answer was refused; start again", outcome: metrics.InvalidCredentials}
	case errors.Is(err, auth.ErrPasskeyNotFound):
		return failure{status: 404, code: "passkey_not_found", message: "you have no passkey with that id", outcome: metrics.Invalid}
	case errors.Is(err, auth.ErrSessionNotFound):
		return failure{status: 404, code: "session_not_found", message: "you have no session with that id", outcome: metrics.Invalid}
	case errors.Is(err, auth.ErrInvalidRequest):
		return failure{status: 400, code: "invalid_request", message: err.Error(), outcome: metrics.InvalidRequest}
	case errors.Is(err, auth.ErrUnavailable):
		log.ErrorContext(ctx, "dependency unavailable", "err", err)
		f := failure{status: 503, code: "temporarily_unavailable", message: "the service is temporarily unavailable; retry later", outcome: metrics.Unavailable}
		f.header("retry-after", "1")
		return f
	}
	log.ErrorContext(ctx, "internal error", "err", err)
	return failure{status: 500, code: "internal_error", message: "internal error", outcome: metrics.Error}
}

// stepUpChallenge is the WWW-Authenticate value of a step-up refusal (RFC
// 9470 3): error insufficient_user_authentication, a description, and
// what to ask the authorization server for: acr_values and/or max_age.
func stepUpChallenge(e *auth.StepUpError) string {
	v := `Bearer realm="lambda-auth", error="insufficient_user_authentication", error_description="` + Description(e.Reason) + `"`
	if e.ACR != "" {
		v += `, acr_values="` + e.ACR + `"`
	}
	if e.MaxAge > 0 {
		v += `, max_age="` + strconv.Itoa(e.MaxAge) + `"` // quoted as in RFC 9470 3's example
	}
	return v
}
