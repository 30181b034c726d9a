package rescue

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// path is where a session's commands are found: the ramdisk's /sbin
// (mdadm), u-root's /bbin and the usual places.
var path = []string{"/sbin", "/bin", "/usr/sbin", "/usr/bin", "/bbin"}

// FindShell returns the ramdisk's shell (/bin/sh, the debug image's gosh),
// or "" when it has none.
func FindShell() string {
	if p, err := lookPath("/bin/sh"); err == nil {
		return p
	}
	return ""
}

// session waits for the client's exec or shell request and runs it; pty,
// env and subsystem requests are declined (commands run without a
// terminal).
func (s *Server) session(ctx context.Context, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		switch req.Type {
		case "exec":
			var p struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &p); err != nil {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			go ssh.DiscardRequests(reqs)
			s.exitStatus(ch, s.run(ctx, ch, p.Command))
			return
		case "shell":
			_ = req.Reply(true, nil)
			go ssh.DiscardRequests(reqs)
			s.exitStatus(ch, s.shell(ctx, ch))
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}

func (s *Server) exitStatus(ch ssh.Channel, code int) {
	_ = ch.CloseWrite()
	_, _ = ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, uint32(code)))
}

// run runs one command line, through the shell when there is one, else as
// whitespace-separated argv, with the channel as its stdin, stdout and
// stderr. It returns the exit status (127: not found, as a shell says).
func (s *Server) run(ctx context.Context, ch ssh.Channel, line string) int {
	var argv []string
	if s.Shell != "" {
		argv = []string{s.Shell, "-c", line}
	} else if argv = strings.Fields(line); len(argv) == 0 {
		return 0
	}
	return s.start(ctx, ch, argv, true)
}

// shell runs the shell on the channel, or without one reads command lines
// and runs each until "exit" or the end of input.
func (s *Server) shell(ctx context.Context, ch ssh.Channel) int {
	if s.Shell != "" {
		return s.start(ctx, ch, []string{s.Shell}, true)
	}
	fmt.Fprintf(ch, "goipa rescue: no shell in this ramdisk; each line runs as a command (%s)\n", strings.Join(path, ":"))
	in := bufio.NewScanner(ch)
	code := 0
	for fmt.Fprint(ch, "rescue# "); in.Scan(); fmt.Fprint(ch, "rescue# ") {
		argv := strings.Fields(in.Text())
		switch {
		case len(argv) == 0:
		case argv[0] == "exit":
			return code
		default:
			// The lines come from the channel, so commands get no stdin.
			code = s.start(ctx, ch, argv, false)
		}
	}
	return code
}

// start runs argv in the rescue user's environment and waits for it.
func (s *Server) start(ctx context.Context, ch ssh.Channel, argv []string, stdin bool) int {
	bin, err := lookPath(argv[0])
	if err != nil {
		fmt.Fprintf(ch.Stderr(), "%s: %v\n", argv[0], err)
		return 127
	}
	cmd := exec.CommandContext(ctx, bin, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = []string{"PATH=" + strings.Join(path, ":"), "HOME=/", "USER=" + User, "LOGNAME=" + User, "SHELL=" + s.Shell}
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
	var w io.WriteCloser
	if stdin {
		// Copied here rather than by exec: Wait must not wait for a client
		// that keeps its stdin open after the command is gone.
		if w, err = cmd.StdinPipe(); err != nil {
			fmt.Fprintln(ch.Stderr(), err)
			return 1
		}
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(ch.Stderr(), "%s: %v\n", argv[0], err)
		return 126
	}
	if w != nil {
		go func() {
			_, _ = io.Copy(w, ch)
			w.Close()
		}()
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return exit.ExitCode()
	default:
		fmt.Fprintf(ch.Stderr(), "%s: %v\n", argv[0], err)
		return 1
	}
}

// lookPath finds name in the session's path, whatever the agent's own
// environment (PID 1 has none).
func lookPath(name string) (string, error) {
	dirs := path
	if strings.Contains(name, "/") {
		dirs = []string{""}
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}
