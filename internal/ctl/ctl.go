// Package ctl is goipactl: an operator CLI for the agent's REST API, and a
// stand-in Ironic conductor (see conductor.go).
package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/goipa/goipa/agent/client"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the agent refused, failed, or could not be reached
	exitUsage = 2
)

const usage = `usage: goipactl [global flags] VERB [args]

verbs:
  status                          GET /v1/status
  commands                        GET /v1/commands/
  run NAME [PARAMS-JSON] [--wait] POST /v1/commands/ (NAME like standby.sync)
  conductor --listen ADDR --mac MAC [flags]
                                  run a fake Ironic and drive a deploy

global flags:
`

// errUsage marks errors that are the caller's fault (exit 2).
var errUsage = errors.New("usage")

// globals are the flags before the verb.
type globals struct {
	agent    string
	token    string
	cacert   string
	insecure bool
	timeout  time.Duration
	// timeoutSet tells whether --timeout was given (conductor's default differs).
	timeoutSet bool
}

// Main runs goipactl with args (without the program name) and returns the
// exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var g globals
	fs := flag.NewFlagSet("goipactl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&g.agent, "agent", "http://127.0.0.1:9999", "agent API URL")
	fs.StringVar(&g.token, "token", "", "agent token (sent as agent_token)")
	fs.StringVar(&g.cacert, "cacert", "", "PEM file to trust for https (e.g. the agent's agent_verify_ca)")
	fs.BoolVar(&g.insecure, "insecure", false, "do not verify the agent's certificate")
	fs.DurationVar(&g.timeout, "timeout", 60*time.Second, "timeout of each request (conductor: of the whole deploy)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	fs.Visit(func(f *flag.Flag) { g.timeoutSet = g.timeoutSet || f.Name == "timeout" })
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	verb, rest := fs.Arg(0), fs.Args()[1:]
	var err error
	switch verb {
	case "status":
		err = runStatus(ctx, g, rest, stdout)
	case "commands":
		err = runCommands(ctx, g, rest, stdout)
	case "run":
		err = runRun(ctx, g, rest, stdout)
	case "conductor":
		err = runConductor(ctx, g, rest, stdout, stderr)
	default:
		err = fmt.Errorf("%w: unknown verb %q", errUsage, verb)
	}
	return report(err, stderr)
}

// report prints err and maps it to an exit code.
func report(err error, stderr io.Writer) int {
	var ae *client.APIError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "goipactl: %s\n", strings.TrimPrefix(err.Error(), "usage: "))
		return exitUsage
	case errors.As(err, &ae):
		fmt.Fprintf(stderr, "goipactl: HTTP %d: %s\n", ae.StatusCode, ae.FaultString)
		return exitError
	default:
		fmt.Fprintf(stderr, "goipactl: %v\n", err)
		return exitError
	}
}

// newClient builds the agent client from the global flags.
func (g globals) newClient() (*client.Client, error) {
	opts := []client.Option{client.WithToken(g.token)}
	switch {
	case g.insecure && g.cacert != "":
		return nil, fmt.Errorf("%w: --cacert and --insecure exclude each other", errUsage)
	case g.insecure:
		opts = append(opts, client.WithInsecureTLS())
	case g.cacert != "":
		pem, err := os.ReadFile(g.cacert)
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithCA(pem))
	}
	c, err := client.New(g.agent, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return c, nil
}

// requestContext bounds one request by --timeout.
func (g globals) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.timeout)
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}

// parseInterspersed parses fs allowing flags after positional arguments
// ("run standby.sync --wait").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// newFlagSet is a verb's flag set whose parse errors are usage errors.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("goipactl "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// noArgs refuses arguments to verbs that take none.
func noArgs(verb string, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: %s takes no arguments, got %q", errUsage, verb, args)
	}
	return nil
}
