package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/goipa/goipa/agent/client"
)

// errCommandFailed is a command that ran and ended FAILED (exit 1).
var errCommandFailed = errors.New("command failed")

// runRun posts a command and prints its result.
func runRun(ctx context.Context, g globals, args []string, stdout io.Writer) error {
	fs := newFlagSet("run", io.Discard)
	wait := fs.Bool("wait", false, "wait for the command to finish")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return fmt.Errorf("%w: run: %v", errUsage, err)
	}
	if len(pos) < 1 || len(pos) > 2 {
		return fmt.Errorf("%w: run NAME [PARAMS-JSON] [--wait]", errUsage)
	}
	name := pos[0]
	if !strings.Contains(name, ".") {
		return fmt.Errorf("%w: command name %q must be EXTENSION.COMMAND, e.g. standby.sync", errUsage, name)
	}
	params := json.RawMessage("{}")
	if len(pos) == 2 {
		var obj map[string]any
		if err := json.Unmarshal([]byte(pos[1]), &obj); err != nil || obj == nil {
			return fmt.Errorf("%w: PARAMS-JSON must be a JSON object: %s", errUsage, jsonProblem(err))
		}
		params = json.RawMessage(pos[1])
	}
	c, err := g.newClient()
	if err != nil {
		return err
	}
	ctx, cancel := g.requestContext(ctx)
	defer cancel()
	r, err := c.Run(ctx, name, params, *wait)
	if err != nil {
		return err
	}
	if err := printJSON(stdout, r); err != nil {
		return err
	}
	if r.CommandStatus == client.StatusFailed || r.VersionMismatch() {
		return fmt.Errorf("%w: %s %s", errCommandFailed, r.CommandName, r.CommandStatus)
	}
	return nil
}

func jsonProblem(err error) string {
	if err == nil {
		return "got null"
	}
	return err.Error()
}
