// Command totp is the TOTP second factor's function: GET, POST and DELETE
// /auth/mfa/totp and POST /auth/mfa/totp/confirm. Its wiring is app.TOTP;
// its logic lives in shared/auth and shared/apigw.
package main

import "github.com/authkit/lambda-auth/shared/app"

func main() { app.Main(app.TOTP) }
