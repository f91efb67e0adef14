// Package apigw adapts the auth service to API Gateway: HTTP API (payload
// 2.0) requests and responses, the refresh cookie, the one mapping of errors
// to statuses, and the authorizer's responses for HTTP APIs (simple) and
// REST APIs (IAM policy).
package apigw

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/authkit/lambda-auth/shared/auth"
)

// Request and Response are the HTTP API payload 2.0 shapes.
type (
	Request  = events.APIGatewayV2HTTPRequest
	Response = events.APIGatewayV2HTTPResponse
)

// Handler is an HTTP API route handler.
type Handler func(ctx context.Context, req Request) (Response, error)

// ErrorBody is every error response: a stable code and a short message.
type ErrorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
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
			Body: `{"error":"internal_error","message":"internal error"}`}
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
	return JSON(status, ErrorBody{Error: code, Message: message})
}

// requestError is a client mistake found while reading the request.
type requestError struct {
	status  int
	code    string
	message string
}

func (e *requestError) Error() string { return e.message }

func badRequest(msg string) error { return &requestError{400, "invalid_request", msg} }

// Error maps err to the response the client sees. This is the only place
// that decides statuses: client errors get a stable code and a short
// message; anything else is logged in full and answered without detail
// (503 when a dependency failed, 500 otherwise).
func Error(ctx context.Context, log *slog.Logger, err error) Response {
	var re *requestError
	var te *auth.ThrottledError
	switch {
	case errors.As(err, &re):
		return Fail(re.status, re.code, re.message)
	case errors.As(err, &te):
		r := Fail(429, "too_many_attempts", "too many failed logins; retry later")
		r.Headers["retry-after"] = strconv.Itoa(int((te.RetryAfter + time.Second - 1) / time.Second))
		return r
	case errors.Is(err, auth.ErrInvalidCredentials):
		return Fail(401, "invalid_credentials", "invalid username or password")
	case errors.Is(err, auth.ErrInvalidRefreshToken):
		return Fail(401, "invalid_refresh_token", "refresh token is invalid, expired or revoked; log in again")
	case errors.Is(err, auth.ErrRefreshConflict):
		r := Fail(409, "refresh_conflict", "this refresh token was just rotated by another request; retry with the current one")
		r.Headers["retry-after"] = "0"
		return r
	case errors.Is(err, auth.ErrInvalidToken), errors.Is(err, auth.ErrRevoked):
		return Fail(401, "invalid_token", "access token is invalid or revoked")
	case errors.Is(err, auth.ErrSessionNotFound):
		return Fail(404, "session_not_found", "you have no session with that id")
	case errors.Is(err, auth.ErrInvalidRequest):
		return Fail(400, "invalid_request", err.Error())
	case errors.Is(err, auth.ErrUnavailable):
		log.ErrorContext(ctx, "dependency unavailable", "err", err)
		r := Fail(503, "temporarily_unavailable", "the service is temporarily unavailable; retry later")
		r.Headers["retry-after"] = "1"
		return r
	}
	log.ErrorContext(ctx, "internal error", "err", err)
	return Fail(500, "internal_error", "internal error")
}
