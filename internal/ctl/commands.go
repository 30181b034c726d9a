package ctl

import (
	"context"
	"io"

	"github.com/goipa/goipa/agent/client"
)

// runCommands prints GET /v1/commands/ as the agent sends it.
func runCommands(ctx context.Context, g globals, args []string, stdout io.Writer) error {
	return runGet(ctx, g, "commands", args, stdout, func(ctx context.Context, c *client.Client) (any, error) {
		cmds, err := c.Commands(ctx)
		if err != nil {
			return nil, err
		}
		if cmds == nil {
			cmds = []client.Result{}
		}
		return map[string]any{"commands": cmds}, nil
	})
}
