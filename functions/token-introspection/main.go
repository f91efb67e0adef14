// Command token-introspection is the token-introspection Lambda function. Its wiring is app.TokenIntrospection; its
// logic lives in shared/auth and shared/apigw.
package main

import "github.com/authkit/lambda-auth/shared/app"

func main() { app.Main(app.TokenIntrospection) }
