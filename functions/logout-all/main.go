// Command logout-all is the logout-all Lambda function; see shared/app.LogoutAll.
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
	h, err := app.LogoutAll(context.Background(), os.Getenv)
	if err != nil {
		slog.Error("init failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
