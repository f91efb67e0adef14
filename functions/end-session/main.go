// Command end-session is DELETE /auth/sessions/{id}: a user ends one of
// their sessions from the session list. Its wiring is app.EndSession; its
// logic lives in shared/auth and shared/apigw.
package main

import "github.com/authkit/lambda-auth/shared/app"

func main() { app.Main(app.EndSession) }
