// Package passkeyapp wires the two passkey functions: shared/app builds
// their parts, this package the WebAuthn ceremonies (shared/passkey) and
// their API Gateway handlers. Only functions/passkeys and
// functions/passkey-login import it, so only they link the WebAuthn
// library.
package passkeyapp

import (
	"context"

	"github.com/authkit/lambda-auth/shared/apigw"
	"github.com/authkit/lambda-auth/shared/app"
	"github.com/authkit/lambda-auth/shared/passkey"
)

// Passkeys wires the passkeys function: a signed-in user's passkeys
// (register, list, remove), behind the authorizer.
func Passkeys(ctx context.Context, getenv func(string) string, opts ...app.Option) (apigw.Handler, error) {
	p, err := app.PasskeyRegistrationParts(ctx, getenv, opts...)
	if err != nil {
		return nil, err
	}
	reg, err := passkey.NewRegistration(passkey.Config{RPID: p.RPID, Origins: p.Origins}, p.Store, p.Store, p.Options)
	if err != nil {
		return nil, err
	}
	return apigw.Passkeys(reg, p.Logger, p.Metrics), nil
}

// PasskeySignIn wires the passkey-login function: sign in with a passkey
// and no username, a DPoP token endpoint as login is (RFC 9449 5).
func PasskeySignIn(ctx context.Context, getenv func(string) string, opts ...app.Option) (apigw.Handler, error) {
	p, err := app.PasskeySignInParts(ctx, getenv, opts...)
	if err != nil {
		return nil, err
	}
	in, err := passkey.NewSignIn(passkey.Config{RPID: p.RPID, Origins: p.Origins}, p.Store, p.Store, p.Start, p.Options)
	if err != nil {
		return nil, err
	}
	return apigw.PasskeySignIn(in, p.Cookie, p.Logger, p.Metrics, apigw.WithDPoP(p.DPoP)), nil
}
