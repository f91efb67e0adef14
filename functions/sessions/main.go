// Command sessions is the session list function, GET /auth/sessions. Its
// wiring is app.Sessions; its logic lives in shared/auth and shared/apigw.
package main

import "github.com/authkit/lambda-auth/shared/app"

func main() { app.Main(app.Sessions) }
