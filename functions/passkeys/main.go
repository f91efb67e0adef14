// Command passkeys is a signed-in user's passkeys: POST
// /auth/passkeys/register/options, POST /auth/passkeys/register, GET
// /auth/passkeys and DELETE /auth/passkeys/{id}. Its wiring is
// passkeyapp.Passkeys; its logic lives in shared/passkey and shared/apigw.
package main

import (
	"github.com/authkit/lambda-auth/shared/app"
	"github.com/authkit/lambda-auth/shared/app/passkeyapp"
)

func main() { app.Main(passkeyapp.Passkeys) }
