// Command sessions is the device list function, GET /auth/sessions. Its
// wiring is app.Devices; its logic lives in shared/auth and shared/apigw.
package main

import "github.com/authkit/lambda-auth/shared/app"

func main() { app.Main(app.Devices) }
