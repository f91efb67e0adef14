package apigw

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/metrics"
)

// RevokeResult is what the console shows after a revoke invocation.
type RevokeResult struct {
	Revoked   string    `json:"revoked"` // "token", "session", "user" or "all"
	ID        string    `json:"id"`
	Key       string    `json:"key"` // the revocation table's pk
	RevokedAt time.Time `json:"revoked_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Reason    string    `json:"reason"`
}

// Revoke handles the console-invoked revoke function: {"jti"} |
// {"session_id"} | {"user_id"} | {"all": true} (the global cutoff: every
// session and access token issued until now, for every user), optional
// "reason". It writes an audit log
// line and returns what it did. A bad event returns an error the console
// shows; nothing is written.
func Revoke(svc *auth.Revoke, log *slog.Logger, met *metrics.Recorder) func(ctx context.Context, raw json.RawMessage) (RevokeResult, error) {
	return func(ctx context.Context, raw json.RawMessage) (RevokeResult, error) {
		var req auth.RevokeRequest
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return RevokeResult{}, errors.New(`invalid event: send {"jti": ...}, {"session_id": ...}, {"user_id": ...} or {"all": true}, optional "reason"`)
		}
		r, err := svc.Revoke(ctx, req)
		if err != nil {
			if errors.Is(err, auth.ErrInvalidRequest) {
				return RevokeResult{}, err
			}
			log.ErrorContext(ctx, "revoke failed", "err", err)
			if errors.Is(err, auth.ErrUnavailable) {
				met.DependencyError(dependency(err))
			}
			return RevokeResult{}, errors.New("revoke failed: the revocation was not written; retry")
		}
		kind := map[auth.RevocationKind]string{auth.RevokeToken: "token", auth.RevokeSession: "session", auth.RevokeUser: "user", auth.RevokeAll: "all"}[r.Kind]
		var caller string
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			caller = lc.InvokedFunctionArn
		}
		log.InfoContext(ctx, "audit: revoked", "what", kind, "id", r.Value, "reason", r.Reason,
			"expires_at", r.ExpiresAt.UTC().Format(time.RFC3339), "function", caller)
		return RevokeResult{Revoked: kind, ID: r.Value, Key: string(r.Kind) + "#" + r.Value,
			RevokedAt: r.RevokedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(), Reason: r.Reason}, nil
	}
}
