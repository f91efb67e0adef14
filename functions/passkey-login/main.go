// Command passkey-login is the passkey sign-in with no username: POST
// /auth/passkey/options and POST /auth/passkey/login. Its wiring is
// passkeyapp.PasskeySignIn; its logic lives in shared/passkey, shared/auth
// and shared/apigw.
package main

import (
	"github.com/authkit/lambda-auth/shared/app"
	"github.com/authkit/lambda-auth/shared/app/passkeyapp"
)

func main() { app.Main(passkeyapp.PasskeySignIn) }
