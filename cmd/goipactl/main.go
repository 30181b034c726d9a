// Command goipactl is the operator's tool for a goipa agent: query it, run
// commands on it, or play a minimal Ironic conductor against it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/goipa/goipa/internal/ctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := ctl.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
