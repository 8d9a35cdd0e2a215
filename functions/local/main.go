// Command local serves every Tollgate route on one port, for development and
// self-hosting: the same handlers the Lambda functions run. It creates the table
// when it does not exist and, with -demo, a demo tenant and key.
package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"

	"github.com/tollgate/tollgate/shared/app"
)

func main() {
	demo := flag.String("demo", "", "create (or reuse) this tenant on the default model and print a new API key for it")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.FromEnv(ctx, os.Getenv)
	if err != nil {
		os.Exit(1)
	}
	if err := a.ServeLocal(ctx, *demo, os.Stdout); err != nil {
		a.Log.Error("local server", "err", err)
		os.Exit(1)
	}
}
