// Package runner is the one way goipa executes external tools (mdadm,
// grub-install, …). Everything goes through the Runner interface so tests can
// replace it with a fake that records argv and returns canned output.
// Arguments are always an argv slice, never a shell string.
package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
)

// Runner runs a program with arguments and returns its standard output.
type Runner interface {
	Run(ctx context.Context, cmd Cmd) ([]byte, error)
}

// Cmd is one invocation.
type Cmd struct {
	Name  string
	Args  []string
	Env   []string // extra KEY=VALUE pairs added to the agent's environment
	Stdin []byte
	// Root, when set, runs the program chrooted there (working directory
	// its /): a deployed image's own tools. Name is then a path inside Root.
	Root string
}

// Command is shorthand for Cmd{Name: name, Args: args}.
func Command(name string, args ...string) Cmd { return Cmd{Name: name, Args: args} }

func (c Cmd) String() string {
	s := strings.Join(append([]string{c.Name}, c.Args...), " ")
	if c.Root != "" {
		s = "chroot " + c.Root + " " + s
	}
	return s
}

// ExitError reports a program that ran and failed; Stderr is kept for the
// error message the conductor will show.
type ExitError struct {
	Cmd      Cmd
	ExitCode int
	Stderr   string
}

func (e *ExitError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		return fmt.Sprintf("%s: exit status %d", e.Cmd, e.ExitCode)
	}
	return fmt.Sprintf("%s: exit status %d: %s", e.Cmd, e.ExitCode, msg)
}

// Exec runs programs on this machine.
type Exec struct{}

// Run implements Runner.
func (Exec) Run(ctx context.Context, c Cmd) ([]byte, error) {
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	if len(c.Env) > 0 {
		cmd.Env = append(cmd.Environ(), c.Env...)
	}
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	if c.Root != "" {
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: c.Root}
		cmd.Dir = "/"
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return stdout.Bytes(), &ExitError{Cmd: c, ExitCode: ee.ExitCode(), Stderr: stderr.String()}
	}
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("%s: %w", c, err)
	}
	return stdout.Bytes(), nil
}
