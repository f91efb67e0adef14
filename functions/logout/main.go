// Command logout is the logout Lambda function. Its wiring is app.Logout; its
// logic lives in shared/auth and shared/apigw.
package main

import "github.com/authkit/lambda-auth/shared/app"

func main() { app.Main(app.Logout) }
