// Command refresh is the refresh Lambda function. Its wiring is app.Refresh; its
// logic lives in shared/auth and shared/apigw.
package main

import "github.com/authkit/lambda-auth/shared/app"

func main() { app.Main(app.Refresh) }
