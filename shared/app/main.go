package app

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Main is the whole main of a function: JSON logs when the template sets
// LoggingConfig JSON, the handler built once per container by wire (config,
// AWS clients, public keys), then the Lambda loop. A function that cannot
// be wired exits at init, so a bad deployment fails loudly instead of
// answering requests.
func Main[H any](wire func(context.Context, func(string) string, ...Option) (H, error)) {
	slog.SetDefault(lambdacontext.NewLogger())
	h, err := wire(context.Background(), os.Getenv)
	if err != nil {
		slog.Error("init failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
