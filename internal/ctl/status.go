package ctl

import (
	"context"
	"io"
)

// runStatus prints GET /v1/status.
func runStatus(ctx context.Context, g globals, args []string, stdout io.Writer) error {
	if err := noArgs("status", args); err != nil {
		return err
	}
	c, err := g.newClient()
	if err != nil {
		return err
	}
	ctx, cancel := g.requestContext(ctx)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	return printJSON(stdout, st)
}
