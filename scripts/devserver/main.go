// Command devserver is what scripts/dev and scripts/invoke run: the whole
// HTTP API of template.yaml on loopback, with local KMS and DynamoDB, every
// function's real bootstrap under aws-lambda-rie, and no Docker.
//
//	devserver run [flags]                 (scripts/dev)
//	devserver invoke [flags] FUNCTION EVENT.json   (scripts/invoke)
//	devserver rotate-key [flags] [-- scripts/dev flags]   (scripts/rotate-key)
//	devserver env-json                    infra/env.json, for sam local with Docker
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: devserver run|invoke|rotate-key|env-json [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = run(ctx, os.Args[2:])
	case "invoke":
		err = invoke(ctx, os.Args[2:])
	case "rotate-key":
		err = rotateKey(ctx, os.Args[2:])
	case "env-json":
		err = envJSON(os.Stdout)
	default:
		err = fmt.Errorf("unknown command %q (run, invoke, rotate-key, env-json)", os.Args[1])
	}
	if errors.Is(err, flag.ErrHelp) {
		return // the usage is printed already
	}
	if errors.Is(err, errFunctionFailed) {
		os.Exit(1) // the error answer is printed already
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
