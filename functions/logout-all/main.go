// Command logout-all is the logout-all Lambda function. Its wiring is app.LogoutAll; its
// logic lives in shared/auth and shared/apigw.
package main

import "github.com/authkit/lambda-auth/shared/app"

func main() { app.Main(app.LogoutAll) }
