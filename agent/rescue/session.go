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
	"syscall"
	"time"

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

// session waits for the client's exec or shell request and runs it, on a
// pty when the client asked for one; env and subsystem requests are
// declined. The command is killed when the client goes.
func (s *Server) session(ctx context.Context, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var tty *pty
	defer func() {
		if tty != nil {
			tty.Close()
		}
	}()
	term := ""
	for req := range reqs {
		switch req.Type {
		case "pty-req":
			var p struct {
				Term                 string
				Cols, Rows, Wpx, Hpx uint32
				Modes                string
			}
			ok := tty == nil && ssh.Unmarshal(req.Payload, &p) == nil
			if ok {
				t, err := openPTY()
				if err != nil {
					s.Log.Warn("rescue SSH: no pty", "error", err)
				} else {
					tty, term = t, p.Term
					_ = tty.resize(p.Cols, p.Rows)
				}
				ok = err == nil
			}
			_ = req.Reply(ok, nil)
		case "exec", "shell":
			var p struct{ Command string }
			if req.Type == "exec" && ssh.Unmarshal(req.Payload, &p) != nil {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			go whileRunning(reqs, tty, cancel)
			sio := attach(ch, tty, term)
			var code int
			if req.Type == "exec" {
				code = s.run(ctx, sio, p.Command)
			} else {
				code = s.shell(ctx, sio)
			}
			sio.finish()
			s.exitStatus(ch, code)
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}

// whileRunning serves the requests that come while the command runs
// (window-change) and cancels it when the channel closes.
func whileRunning(reqs <-chan *ssh.Request, tty *pty, cancel func()) {
	for req := range reqs {
		var p struct{ Cols, Rows, Wpx, Hpx uint32 }
		if req.Type == "window-change" && tty != nil && ssh.Unmarshal(req.Payload, &p) == nil {
			_ = tty.resize(p.Cols, p.Rows)
		}
		if req.WantReply {
			_ = req.Reply(false, nil)
		}
	}
	cancel()
}

func (s *Server) exitStatus(ch ssh.Channel, code int) {
	_ = ch.CloseWrite()
	_, _ = ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, uint32(code)))
}

// stdio is where a session's commands read and write: the channel, or the
// pty, whose master is copied to and from the channel.
type stdio struct {
	in       io.Reader
	out, err io.Writer
	tty      *pty
	term     string
	// drained is closed once the pty's output has reached the channel.
	drained chan struct{}
}

func attach(ch ssh.Channel, tty *pty, term string) stdio {
	if tty == nil {
		return stdio{in: ch, out: ch, err: ch.Stderr()}
	}
	go func() { _, _ = io.Copy(tty.master, ch) }()
	drained := make(chan struct{})
	go func() {
		// Ends with EIO once no slave is open.
		_, _ = io.Copy(ch, tty.master)
		close(drained)
	}()
	return stdio{in: tty.slave, out: tty.slave, err: tty.slave, tty: tty, term: term, drained: drained}
}

// finish lets the pty's last output reach the client; a process left in
// the background holding the terminal gets a second, then the hangup.
func (sio stdio) finish() {
	if sio.tty == nil {
		return
	}
	sio.tty.slave.Close()
	select {
	case <-sio.drained:
	case <-time.After(time.Second):
	}
}

// run runs one command line, through the shell when there is one, else as
// whitespace-separated argv. It returns the exit status (127: not found,
// as a shell says).
func (s *Server) run(ctx context.Context, sio stdio, line string) int {
	var argv []string
	if s.Shell != "" {
		argv = []string{s.Shell, "-c", line}
	} else if argv = strings.Fields(line); len(argv) == 0 {
		return 0
	}
	return s.start(ctx, sio, argv, true)
}

// shell runs the shell, or without one reads command lines and runs each
// until "exit" or the end of input.
func (s *Server) shell(ctx context.Context, sio stdio) int {
	if s.Shell != "" {
		return s.start(ctx, sio, []string{s.Shell}, true)
	}
	fmt.Fprintf(sio.out, "goipa rescue: no shell in this ramdisk; each line runs as a command (%s)\n", strings.Join(path, ":"))
	in := bufio.NewScanner(sio.in)
	code := 0
	for fmt.Fprint(sio.out, "rescue# "); in.Scan(); fmt.Fprint(sio.out, "rescue# ") {
		argv := strings.Fields(in.Text())
		switch {
		case len(argv) == 0:
		case argv[0] == "exit":
			return code
		default:
			// Without a pty the lines come from the channel, so commands
			// get no stdin.
			code = s.start(ctx, sio, argv, false)
		}
	}
	return code
}

// start runs argv in the rescue user's environment and waits for it. On a
// pty the command leads a session of its own with the pty as its
// controlling terminal (so ^C reaches it).
func (s *Server) start(ctx context.Context, sio stdio, argv []string, stdin bool) int {
	bin, err := lookPath(argv[0])
	if err != nil {
		fmt.Fprintf(sio.err, "%s: %v\n", argv[0], err)
		return 127
	}
	cmd := exec.CommandContext(ctx, bin, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = []string{"PATH=" + strings.Join(path, ":"), "HOME=/", "USER=" + User, "LOGNAME=" + User, "SHELL=" + s.Shell}
	cmd.Dir = "/"
	var w io.WriteCloser
	switch {
	case sio.tty != nil:
		cmd.Env = append(cmd.Env, "TERM="+sio.term)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = sio.tty.slave, sio.tty.slave, sio.tty.slave
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	case stdin:
		// Copied here rather than by exec: Wait must not wait for a client
		// that keeps its stdin open after the command is gone.
		if w, err = cmd.StdinPipe(); err != nil {
			fmt.Fprintln(sio.err, err)
			return 1
		}
		fallthrough
	default:
		cmd.Stdout, cmd.Stderr = sio.out, sio.err
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(sio.err, "%s: %v\n", argv[0], err)
		return 126
	}
	if w != nil {
		go func() {
			_, _ = io.Copy(w, sio.in)
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
		fmt.Fprintf(sio.err, "%s: %v\n", argv[0], err)
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
