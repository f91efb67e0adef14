// Command revocation-snapshot is the scheduled Lambda function that keeps
// the revocation feed's snapshot current. Its wiring is
// app.RevocationSnapshot; its logic lives in shared/dynamo and
// shared/replica.
package main

import "github.com/authkit/lambda-auth/shared/app"

func main() { app.Main(app.RevocationSnapshot) }
