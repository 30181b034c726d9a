package client

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNoSuchCommand means the agent's command list has no command of the
// name being waited for.
var ErrNoSuchCommand = errors.New("command not found in the agent's command list")

// WaitCommand polls GET /v1/commands/ every interval until the last command
// named name ("standby.power_off" or "power_off") is no longer RUNNING, and
// returns it: the conductor's _wait_for_command.
func (c *Client) WaitCommand(ctx context.Context, name string, interval time.Duration) (*Result, error) {
	short := ShortName(name)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		cmds, err := c.Commands(ctx)
		if err != nil {
			return nil, err
		}
		last := lastNamed(cmds, short)
		if last == nil {
			return nil, fmt.Errorf("%s: %w", short, ErrNoSuchCommand)
		}
		if !last.Running() {
			return last, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s: %w", short, ctx.Err())
		case <-t.C:
		}
	}
}

func lastNamed(cmds []Result, short string) *Result {
	for i := len(cmds) - 1; i >= 0; i-- {
		if cmds[i].CommandName == short {
			return &cmds[i]
		}
	}
	return nil
}
