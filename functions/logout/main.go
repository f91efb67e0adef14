// Command logout is the logout Lambda function; see shared/app.Logout.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/authkit/lambda-auth/shared/app"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger()) // JSON when the template sets LoggingConfig JSON
	h, err := app.Logout(context.Background(), os.Getenv)
	if err != nil {
		slog.Error("init failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
