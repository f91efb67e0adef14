// Command revocation-feed is the revocation-feed Lambda function: the
// Revocations table's stream into the revocation feed. Its wiring is
// app.RevocationFeed; its logic lives in shared/dynamo (FeedStream).
package main

import "github.com/authkit/lambda-auth/shared/app"

func main() { app.Main(app.RevocationFeed) }
