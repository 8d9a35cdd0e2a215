// Command tollbench measures Tollgate's overhead on one machine, on loopback only:
// the local server against the fake OpenAI-compatible provider (each in its own
// process) and dynalite. `make bench` runs it; docs/benchmarks.md explains the
// numbers.
//
//	tollbench run [flags]      every measurement; results on stdout and in -out
//	tollbench provider [flags] the fake provider (openaitest.NewHandler) on -addr
//	tollbench gateway [flags]  the local server, governance on or off, on -addr
//	tollbench proxy [flags]    a plain net/http/httputil reverse proxy to -upstream, on -addr
//
// run starts the others as child processes of its own executable, so that
// each one's CPU time and memory can be read from /proc.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, args := "run", os.Args[1:]
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = run(ctx, args)
	case "provider":
		err = serveProvider(ctx, args)
	case "gateway":
		err = serveGateway(ctx, args)
	case "proxy":
		err = serveProxy(ctx, args)
	default:
		err = fmt.Errorf("unknown command %q (want run, provider, gateway or proxy)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tollbench:", err)
		os.Exit(1)
	}
}
