package apigw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/metrics"
	"github.com/authkit/lambda-auth/shared/replica"
	"github.com/authkit/lambda-auth/shared/token"
)

// errUnauthorized is the exact error text with which a REST API Lambda
// authorizer makes API Gateway answer 401.
var errUnauthorized = errors.New("Unauthorized")

// Authorizer handles every authorizer event API Gateway sends, detected
// from the event itself:
//   - HTTP API, payload 2.0 with simple responses: {"isAuthorized": ...}
//     with the identity in "context" (requestContext.authorizer.lambda);
//   - REST API TOKEN and REQUEST authorizers (and HTTP API payload 1.0):
//     an IAM policy; an invalid or revoked token returns the error
//     "Unauthorized" so API Gateway answers 401.
//
// It fails closed: any doubt, an unknown event, a slow or unreachable
// revocation store, denies. Every decision is counted with its reason and
// latency (metrics.Recorder.Decision).
func Authorizer(svc *auth.Authorizer, log *slog.Logger, met *metrics.Recorder, opts ...AuthorizerOption) AuthorizerHandler {
	var cfg authorizerConfig
	for _, o := range opts {
		o(&cfg)
	}
	res := auth.NewResourceAuthorizer(svc, cfg.proofs)
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		start := time.Now()
		out, reason, err := decide(ctx, res, cfg, log, met, raw)
		met.Decision(reason, time.Since(start))
		return out, err
	}
}

func decide(ctx context.Context, svc *auth.ResourceAuthorizer, cfg authorizerConfig, log *slog.Logger, met *metrics.Recorder, raw json.RawMessage) (any, metrics.Reason, error) {
	ev, err := decodeEvent(raw)
	if err != nil {
		log.WarnContext(ctx, "authorizer: undecodable event", "err", err)
		return nil, metrics.Malformed, errUnauthorized
	}
	switch {
	case ev.MethodArn != "":
		return restAuthorize(ctx, svc, cfg, log, met, ev, raw)
	case ev.Version == "2.0" && ev.Type == "REQUEST":
		claims, reason, err := authorize(ctx, svc, log, met, raw, ev.authorization, cfg)
		if err == nil {
			reason, err = stepUp(ctx, svc, log, ev.RouteKey, raw, claims)
		}
		if err != nil {
			return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: false}, reason, nil
		}
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: identityContext(claims)}, reason, nil
	}
	log.WarnContext(ctx, "authorizer: unknown event kind", "version", ev.Version, "type", ev.Type)
	return nil, metrics.Malformed, errUnauthorized
}

func restAuthorize(ctx context.Context, svc *auth.ResourceAuthorizer, cfg authorizerConfig, log *slog.Logger, met *metrics.Recorder, ev authorizerEvent, raw json.RawMessage) (any, metrics.Reason, error) {
	var hdr string
	switch ev.Type {
	case "TOKEN":
		hdr = ev.AuthorizationToken
	case "REQUEST":
		hdr = ev.authorization
	default:
		log.WarnContext(ctx, "authorizer: unknown REST event type", "type", ev.Type)
		return nil, metrics.Malformed, errUnauthorized
	}
	claims, reason, err := authorize(ctx, svc, log, met, raw, hdr, cfg)
	switch {
	case errors.Is(err, auth.ErrUnavailable):
		return policy("unknown", "Deny", ev.MethodArn, nil), reason, nil
	case err != nil:
		return nil, reason, errUnauthorized
	}
	// The step-up rules name HTTP API route keys; a REST API's allow
	// covers the whole stage (apiResource), so a rule could not hold:
	// with rules set, a REST event is denied rather than let through.
	if svc.HasStepUp() {
		log.WarnContext(ctx, "deny", "reason", "step-up rules are set and apply to HTTP API routes only: a REST API event is refused",
			"sub", claims.Subject, "sid", claims.SessionID, "jti", claims.ID)
		return policy(claims.Subject, "Deny", ev.MethodArn, nil), metrics.StepUp, nil
	}
	return policy(claims.Subject, "Allow", apiResource(ev.MethodArn), identityContext(claims)), reason, nil
}

func policy(principal, effect, resource string, ctx map[string]any) events.APIGatewayCustomAuthorizerResponse {
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: principal,
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Version:   "2012-10-17",
			Statement: []events.IAMPolicyStatement{{Action: []string{"execute-api:Invoke"}, Effect: effect, Resource: []string{resource}}},
		},
		Context: ctx,
	}
}

// apiResource widens a method ARN (arn:...:api-id/stage/VERB/path) to every
// method of the stage, so that a policy cached by API Gateway (when the
// operator enables authorizer caching) does not deny the caller's next,
// different route.
func apiResource(methodArn string) string {
	parts := strings.SplitN(methodArn, "/", 3)
	if len(parts) < 3 {
		return methodArn
	}
	return parts[0] + "/" + parts[1] + "/*"
}

// authorize reads the request (the Authorization header; for the DPoP
// scheme, the proof and the public URL from the event raw) and asks the
// service. It logs why it denies, never the token nor the proof, and
// names the reason for metrics.
func authorize(ctx context.Context, svc *auth.ResourceAuthorizer, log *slog.Logger, met *metrics.Recorder, raw json.RawMessage, authorization string, cfg authorizerConfig) (*token.Claims, metrics.Reason, error) {
	if _, _, ok := auth.ParseAuthorization(authorization); !ok {
		log.InfoContext(ctx, "deny", "reason", "no bearer token (nor a DPoP one)")
		return nil, metrics.NoToken, auth.ErrInvalidToken
	}
	req, err := resourceRequest(raw, authorization, cfg.origin, cfg.plainHTTP)
	if err != nil {
		log.WarnContext(ctx, "deny", "reason", err.Error())
		return nil, metrics.Malformed, fmt.Errorf("%w: %w", auth.ErrInvalidToken, err)
	}
	claims, err := svc.Authorize(ctx, req)
	if err != nil {
		attrs := []any{"reason", err.Error()}
		if claims != nil {
			attrs = append(attrs, "sub", claims.Subject, "sid", claims.SessionID, "jti", claims.ID)
		}
		switch {
		case errors.Is(err, replica.ErrStale):
			// Not a DependencyError: the syncs behind it failed (the replica
			// logs each, ReplicaAge shows for how long), and the metric says
			// what the request met: a view too old to decide on.
			log.ErrorContext(ctx, "deny: revocation replica too stale (fail closed)", attrs...)
		case errors.Is(err, auth.ErrUnavailable):
			log.ErrorContext(ctx, "deny: revocation or DPoP replay store unavailable (fail closed)", attrs...)
			met.DependencyError(dependency(err))
		default:
			log.InfoContext(ctx, "deny", attrs...)
		}
		return nil, denyReason(err), err
	}
	return claims, metrics.Allowed, nil
}

// stepUp denies a good token on a route whose STEP_UP_ROUTES rule its
// sign-in does not meet (RFC 9470). API Gateway answers the denial 403
// without WWW-Authenticate (an HTTP API has no gateway responses); the
// functions' own checks answer 401 with it (respond.go).
func stepUp(ctx context.Context, svc *auth.ResourceAuthorizer, log *slog.Logger, route string, raw json.RawMessage, c *token.Claims) (metrics.Reason, error) {
	method := ""
	if strings.HasPrefix(route, "ANY ") && svc.HasStepUp() {
		method = eventMethod(raw) // an ANY route's rule is its method's
	}
	if err := svc.StepUpFor(route, method, c); err != nil {
		log.InfoContext(ctx, "deny", "reason", err.Error(), "route", route, "sub", c.Subject, "sid", c.SessionID, "jti", c.ID)
		return metrics.StepUp, err
	}
	return metrics.Allowed, nil
}

// eventMethod is an HTTP API event's requestContext.http.method, "" if it
// has none: read only for an ANY route while step-up rules are set.
func eventMethod(raw json.RawMessage) string {
	var ev struct {
		RequestContext struct {
			HTTP struct {
				Method string `json:"method"`
			} `json:"http"`
		} `json:"requestContext"`
	}
	if json.Unmarshal(raw, &ev) != nil {
		return ""
	}
	return ev.RequestContext.HTTP.Method
}
