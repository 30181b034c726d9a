package ctl

import (
	"context"
	"io"

	"github.com/goipa/goipa/agent/client"
)

// runCommands prints GET /v1/commands/ as the agent sends it.
func runCommands(ctx context.Context, g globals, args []string, stdout io.Writer) error {
	if err := noArgs("commands", args); err != nil {
		return err
	}
	c, err := g.newClient()
	if err != nil {
		return err
	}
	ctx, cancel := g.requestContext(ctx)
	defer cancel()
	cmds, err := c.Commands(ctx)
	if err != nil {
		return err
	}
	if cmds == nil {
		cmds = []client.Result{}
	}
	return printJSON(stdout, map[string]any{"commands": cmds})
}
