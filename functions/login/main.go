// Command login is the login Lambda function. Its wiring is app.Login; its
// logic lives in shared/auth and shared/apigw.
package main

import "github.com/authkit/lambda-auth/shared/app"

func main() { app.Main(app.Login) }
