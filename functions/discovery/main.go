// Command discovery is the discovery Lambda function. Its wiring is app.Discovery; its
// logic lives in shared/auth and shared/apigw.
package main

import "github.com/authkit/lambda-auth/shared/app"

func main() { app.Main(app.Discovery) }
