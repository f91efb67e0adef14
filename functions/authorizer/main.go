// Command authorizer is the authorizer Lambda function. Its wiring is app.Authorizer; its
// logic lives in shared/auth and shared/apigw.
package main

import "github.com/authkit/lambda-auth/shared/app"

func main() { app.Main(app.Authorizer) }
