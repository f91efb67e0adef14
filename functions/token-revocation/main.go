// Command token-revocation is the token-revocation Lambda function. Its wiring is app.TokenRevocation; its
// logic lives in shared/auth and shared/apigw.
package main

import "github.com/authkit/lambda-auth/shared/app"

func main() { app.Main(app.TokenRevocation) }
