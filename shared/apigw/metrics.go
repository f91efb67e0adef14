package apigw

import (
	"context"
	"errors"
	"log/slog"

	"github.com/aws/smithy-go"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dpop"
	"github.com/authkit/lambda-auth/shared/metrics"
	"github.com/authkit/lambda-auth/shared/replica"
	"github.com/authkit/lambda-auth/shared/token"
)

// answer is Error for a handler that counts: the response, the outcome it
// stands for, and a DependencyError counted when a dependency failed.
func answer(ctx context.Context, log *slog.Logger, met *metrics.Recorder, err error) (Response, metrics.Outcome) {
	r, o := reply(ctx, log, err)
	if o == metrics.Unavailable {
		met.DependencyError(dependency(err))
	}
	return r, o
}

// oauthAnswer is OAuthError for a handler that counts its dependency
// failures.
func oauthAnswer(ctx context.Context, log *slog.Logger, met *metrics.Recorder, err error) Response {
	r, o := oauthReply(ctx, log, err)
	if o == metrics.Unavailable {
		met.DependencyError(dependency(err))
	}
	return r
}

// throttleCodes are the error codes with which DynamoDB and KMS refuse a
// call for its rate.
var throttleCodes = map[string]bool{
	"ThrottlingException":                    true, // KMS, DynamoDB
	"ProvisionedThroughputExceededException": true, // DynamoDB
	"RequestLimitExceeded":                   true, // DynamoDB
	"LimitExceededException":                 true, // KMS
}

// dependency names the service and the kind of failure behind an
// auth.ErrUnavailable: the SDK's operation error says which service, its
// API error code whether it throttled. A replica's stale view
// (replica.ErrStale) is no dependency call of the request: the authorizer
// counts it as its own deny reason (metrics.Stale) instead.
func dependency(err error) (metrics.Service, metrics.Failure) {
	svc := metrics.DynamoDB
	var oe *smithy.OperationError
	if errors.As(err, &oe) && oe.ServiceID == "KMS" {
		svc = metrics.KMS
	}
	var ae smithy.APIError
	switch {
	case errors.As(err, &ae) && throttleCodes[ae.ErrorCode()]:
		return svc, metrics.Throttled
	case errors.Is(err, context.DeadlineExceeded):
		return svc, metrics.Timeout
	}
	return svc, metrics.Failed
}

// denyReason is the metrics reason of an authorizer refusal: the first
// defence that refused the token (shared/token's sentinel errors), a
// revocation, a replica view too old, or a store that did not answer.
func denyReason(err error) metrics.Reason {
	switch {
	case errors.Is(err, replica.ErrStale):
		return metrics.Stale
	case errors.Is(err, auth.ErrUnavailable):
		return metrics.StoreDown
	case errors.Is(err, auth.ErrRevoked):
		return metrics.Revoked
	case errors.Is(err, dpop.ErrInvalidProof), errors.Is(err, dpop.ErrUseNonce):
		return metrics.DPoPProof
	case errors.Is(err, auth.ErrDPoPBinding):
		return metrics.DPoPBinding
	case errors.Is(err, token.ErrTooLarge), errors.Is(err, token.ErrMalformed):
		return metrics.Malformed
	case errors.Is(err, token.ErrHeader), errors.Is(err, token.ErrType), errors.Is(err, token.ErrAlgorithm):
		return metrics.BadHeader
	case errors.Is(err, token.ErrUnknownKey):
		return metrics.UnknownKey
	case errors.Is(err, token.ErrSignature):
		return metrics.Signature
	case errors.Is(err, token.ErrExpired):
		return metrics.Expired
	}
	return metrics.BadClaims // other claims, a missing claim, a sid not ours
}
