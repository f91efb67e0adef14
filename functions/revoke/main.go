// Command revoke is the revoke Lambda function. Its wiring is app.Revoke; its
// logic lives in shared/auth and shared/apigw.
package main

import "github.com/authkit/lambda-auth/shared/app"

func main() { app.Main(app.Revoke) }
