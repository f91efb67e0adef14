// Command me is the me Lambda function. Its wiring is app.Me; its
// logic lives in shared/auth and shared/apigw.
package main

import "github.com/authkit/lambda-auth/shared/app"

func main() { app.Main(app.Me) }
