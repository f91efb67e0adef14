package app

import (
	"context"
	"log/slog"

	"github.com/authkit/lambda-auth/shared/apigw"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
	"github.com/authkit/lambda-auth/shared/metrics"
)

// PasskeyParts is what the two passkey functions are built from, wired
// here as every function is. The WebAuthn ceremonies themselves are wired
// in shared/app/passkeyapp, which only those two functions import: this
// package, which every function links, does not link the WebAuthn library
// (its init parses attestation root certificates).
type PasskeyParts struct {
	RPID    string
	Origins []string
	Store   *dynamo.Store
	Options auth.Options
	Logger  *slog.Logger
	Metrics *metrics.Recorder
	Cookie  apigw.CookieConfig
	// Start starts the sessions of passkey sign-ins (PasskeySignInParts only).
	Start *auth.SessionStart
	// DPoP checks the sign-in's DPoP proofs as login's are checked
	// (DPOP_MODE, DPOP_NONCE; PasskeySignInParts only).
	DPoP *apigw.DPoP
}

// PasskeyRegistrationParts loads the passkeys function's configuration:
// the caller's session (its sign-in time and username), the credential
// records and the challenges.
func PasskeyRegistrationParts(ctx context.Context, getenv func(string) string, opts ...Option) (PasskeyParts, error) {
	w, err := load(ctx, getenv, opts, "SESSIONS_TABLE", "PASSKEYS_TABLE", "PASSKEY_CHALLENGES_TABLE",
		"PASSKEY_RP_ID", "PASSKEY_ORIGINS")
	if err != nil {
		return PasskeyParts{}, err
	}
	return w.passkeyParts("passkeys", w.store()), nil
}

// PasskeySignInParts loads the passkey-login function's configuration and
// builds its session start: the signing key (one GetPublicKey, at init),
// users, sessions and the revocation entries a login reads and writes,
// and the DPoP proof checking of a token endpoint (w.dpop, as login's).
// The MAC key serves only DPoP nonces (DPOP_NONCE=required: one
// GenerateMac at init): a passkey sign-in has no throttle key and names
// no unknown user.
func PasskeySignInParts(ctx context.Context, getenv func(string) string, opts ...Option) (PasskeyParts, error) {
	w, err := load(ctx, getenv, opts, "ISSUER", "AUDIENCE", "SIGNING_KEY_ID", "MAC_KEY_ID", "USERS_TABLE", "SESSIONS_TABLE",
		"REVOCATIONS_TABLE", "REVOCATION_FEED_TABLE", "LOGIN_THROTTLE_TABLE", "PASSKEYS_TABLE", "PASSKEY_CHALLENGES_TABLE",
		"PASSKEY_RP_ID", "PASSKEY_ORIGINS")
	if err != nil {
		return PasskeyParts{}, err
	}
	signer, err := w.signer(ctx)
	if err != nil {
		return PasskeyParts{}, err
	}
	dp, err := w.dpop(ctx)
	if err != nil {
		return PasskeyParts{}, err
	}
	met := w.metrics("passkey-login")
	st, revoker := w.userRevoker(met)
	p := w.passkeyParts("passkey-login", st)
	p.Metrics = met
	p.Start = auth.NewSessionStart(st, revoker, auth.NewAccessIssuer(signer, w.options()), w.options())
	p.DPoP = dp
	return p, nil
}

func (w *wiring) passkeyParts(name string, st *dynamo.Store) PasskeyParts {
	return PasskeyParts{RPID: w.cfg.PasskeyRPID, Origins: w.cfg.PasskeyOrigins, Store: st, Options: w.options(),
		Logger: w.set.logger, Metrics: w.metrics(name), Cookie: w.cookie()}
}
