package apigw

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/metrics"
)

// PasskeyRegistration is the passkey registration flow (shared/passkey's
// Registration; an interface so that this package, which every function
// links, does not link the WebAuthn library).
type PasskeyRegistration interface {
	Begin(ctx context.Context, userID, sid string) ([]byte, error)
	Finish(ctx context.Context, userID, sid string, body []byte) (*auth.Passkey, error)
	List(ctx context.Context, userID string) ([]auth.Passkey, error)
	Delete(ctx context.Context, userID, sid string, id []byte) error
}

// PasskeySignInFlow is the passkey sign-in flow (shared/passkey's SignIn).
type PasskeySignInFlow interface {
	Begin(ctx context.Context) ([]byte, error)
	Finish(ctx context.Context, body []byte, previous string, opts ...auth.LoginOption) (auth.Tokens, error)
}

// The passkey routes. Options and answers are WebAuthn's JSON forms:
// {"publicKey": PublicKeyCredentialCreationOptions or ...RequestOptions}
// with binary members in base64url, and the browser's PublicKeyCredential
// as PublicKeyCredential.toJSON() gives it (WebAuthn L3 §5.1.8, §5.1.9).
const (
	RoutePasskeyRegisterOptions = "POST /auth/passkeys/register/options"
	RoutePasskeyRegister        = "POST /auth/passkeys/register"
	RoutePasskeyList            = "GET /auth/passkeys"
	RoutePasskeyDelete          = "DELETE /auth/passkeys/{id}"
	RoutePasskeySignInOptions   = "POST /auth/passkey/options"
	RoutePasskeySignIn          = "POST /auth/passkey/login"
)

// PasskeyJSON is one passkey in the passkey list.
type PasskeyJSON struct {
	ID             string    `json:"id"` // the credential id, base64url
	CreatedAt      time.Time `json:"created_at"`
	LastUsedAt     time.Time `json:"last_used_at"`
	BackupEligible bool      `json:"backup_eligible"` // a synced passkey
	BackupState    bool      `json:"backup_state"`
	Transports     []string  `json:"transports"`
	Attachment     string    `json:"attachment,omitempty"`
	AAGUID         string    `json:"aaguid,omitempty"` // the authenticator model, as it claims (attestation "none")
	Refused        bool      `json:"refused"`          // flagged as possibly cloned: signs nobody in
}

// PasskeysResponse is the body of GET /auth/passkeys.
type PasskeysResponse struct {
	Passkeys []PasskeyJSON `json:"passkeys"`
}

func passkeyJSON(p *auth.Passkey) PasskeyJSON {
	j := PasskeyJSON{ID: base64.RawURLEncoding.EncodeToString(p.ID), CreatedAt: p.CreatedAt.UTC(), LastUsedAt: p.LastUsedAt.UTC(),
		BackupEligible: p.BackupEligible, BackupState: p.BackupState, Transports: p.Transports, Attachment: p.Attachment,
		Refused: p.CloneWarning}
	if j.Transports == nil {
		j.Transports = []string{}
	}
	if a := p.AAGUID; len(a) == 16 {
		j.AAGUID = fmt.Sprintf("%x-%x-%x-%x-%x", a[0:4], a[4:6], a[6:8], a[8:10], a[10:16])
	}
	return j
}

// rawJSON is a request's JSON body as it came, for the WebAuthn parser.
func rawJSON(req Request) ([]byte, error) {
	b, err := body(req)
	if err != nil {
		return nil, err
	}
	if mt, _, err := mime.ParseMediaType(header(req.Headers, "content-type")); err != nil || mt != "application/json" {
		return nil, &requestError{415, "unsupported_media_type", "send a JSON body with Content-Type: application/json"}
	}
	if !json.Valid(b) {
		return nil, badRequest("request body is not valid JSON")
	}
	return b, nil
}

func optionsResponse(options []byte) Response {
	return Response{StatusCode: 200, Headers: withJSON(securityHeaders()), Body: string(options)}
}

func withJSON(h map[string]string) map[string]string {
	h["content-type"] = "application/json"
	return h
}

// Passkeys handles the caller's passkeys behind the authorizer: creation
// options (POST /auth/passkeys/register/options), the new credential (POST
// /auth/passkeys/register), the list (GET /auth/passkeys) and removing
// one (DELETE /auth/passkeys/{id}). Registering and removing need a
// sign-in within auth.RecentSignIn (401 insufficient_user_authentication
// with max_age otherwise, RFC 9470).
func Passkeys(reg PasskeyRegistration, log *slog.Logger, met *metrics.Recorder) Handler {
	return protectedRoute(log, met, func(ctx context.Context, req Request, id Identity) (Response, error) {
		switch req.RouteKey {
		case RoutePasskeyRegisterOptions:
			opts, err := reg.Begin(ctx, id.Subject, id.SessionID)
			if err != nil {
				return Response{}, err
			}
			return optionsResponse(opts), nil
		case RoutePasskeyRegister:
			b, err := rawJSON(req)
			if err != nil {
				return Response{}, err
			}
			p, err := reg.Finish(ctx, id.Subject, id.SessionID, b)
			if err != nil {
				return Response{}, err
			}
			return JSON(201, passkeyJSON(p)), nil
		case RoutePasskeyList:
			list, err := reg.List(ctx, id.Subject)
			if err != nil {
				return Response{}, err
			}
			body := PasskeysResponse{Passkeys: []PasskeyJSON{}}
			for i := range list {
				body.Passkeys = append(body.Passkeys, passkeyJSON(&list[i]))
			}
			return JSON(200, body), nil
		case RoutePasskeyDelete:
			cid, err := base64.RawURLEncoding.DecodeString(req.PathParameters["id"])
			if err != nil {
				return Response{}, auth.ErrPasskeyNotFound
			}
			if err := reg.Delete(ctx, id.Subject, id.SessionID, cid); err != nil {
				return Response{}, err
			}
			return NoContent(), nil
		}
		return Response{}, &requestError{404, "not_found", "no such route"}
	})
}

// PasskeySignIn handles the passkey sign-in, with no access token: request
// options (POST /auth/passkey/options) and the assertion (POST
// /auth/passkey/login), answered as a password login is (the access token
// in the body, the refresh token in its cookie). Each answer to the latter
// is counted as logins are (metrics.Login). The latter is a token endpoint
// as POST /auth/login is: with WithDPoP, a valid DPoP proof binds the
// session to its key (token_type DPoP, cnf.jkt; RFC 9449 5), DPOP_MODE
// required refuses a sign-in without one, and every answer carries the
// server nonce when nonces are on (RFC 9449 8), the options' too.
func PasskeySignIn(svc PasskeySignInFlow, ck CookieConfig, log *slog.Logger, met *metrics.Recorder, opts ...TokenEndpointOption) Handler {
	e := newTokenEndpoint(ck, log, met, opts)
	notFound := func(ctx context.Context, req Request) (Response, error) {
		return Error(ctx, log, &requestError{404, "not_found", "no such route"}), nil
	}
	return ByRoute(notFound, map[string]Handler{
		// A nonce with the challenge (handler stamps it): the sign-in's
		// proof can carry it at once (RFC 9449 8), no use_dpop_nonce round
		// trip.
		RoutePasskeySignInOptions: e.handler(func(ctx context.Context, req Request) Response {
			opts, err := svc.Begin(ctx)
			if err != nil {
				r, _ := answer(ctx, log, met, err)
				return r
			}
			return optionsResponse(opts)
		}),
		RoutePasskeySignIn: e.signIn(met.Login, func(req Request) (signInRequest, error) {
			b, err := rawJSON(req)
			if err != nil {
				return signInRequest{}, err
			}
			ua := userAgent(req)
			start := func(ctx context.Context, previous, jkt string) (auth.Tokens, error) {
				return svc.Finish(ctx, b, previous, auth.WithUserAgent(ua), auth.WithDPoPKey(jkt))
			}
			return signInRequest{start: start}, nil
		}),
	})
}
