// Command jwks is the jwks Lambda function. Its wiring is app.JWKS; its
// logic lives in shared/auth and shared/apigw.
package main

import "github.com/authkit/lambda-auth/shared/app"

func main() { app.Main(app.JWKS) }
