package ctl

import (
	"context"
	"io"

	"github.com/goipa/goipa/agent/client"
)

// runStatus prints GET /v1/status.
func runStatus(ctx context.Context, g globals, args []string, stdout io.Writer) error {
	return runGet(ctx, g, "status", args, stdout, func(ctx context.Context, c *client.Client) (any, error) {
		return c.Status(ctx)
	})
}

// runGet runs a verb that takes no arguments: one request through the
// agent client, bounded by --timeout, whose answer it prints as JSON.
func runGet(ctx context.Context, g globals, verb string, args []string, stdout io.Writer, get func(context.Context, *client.Client) (any, error)) error {
	if err := noArgs(verb, args); err != nil {
		return err
	}
	c, err := g.newClient()
	if err != nil {
		return err
	}
	ctx, cancel := g.requestContext(ctx)
	defer cancel()
	v, err := get(ctx, c)
	if err != nil {
		return err
	}
	return printJSON(stdout, v)
}
