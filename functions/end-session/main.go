// Command end-session is DELETE /auth/sessions/{id}: a user ends one of
// their sessions from the device list. Its wiring is app.EndDevice; its
// logic lives in shared/auth and shared/apigw.
package main

import "github.com/authkit/lambda-auth/shared/app"

func main() { app.Main(app.EndDevice) }
