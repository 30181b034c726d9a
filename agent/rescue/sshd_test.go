package rescue

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// serve starts a Server for the hash256 password on a loopback port.
func serve(t *testing.T, shell string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Server{Hash: hash256, Shell: shell, Log: discard()}).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func dial(addr, user, password string) (*ssh.Client, error) {
	return ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.Password(password)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), // made afresh by each Serve
		Timeout:         5 * time.Second,
	})
}

// login opens a session as the rescue user.
func login(t *testing.T, addr string) *ssh.Session {
	t.Helper()
	c, err := dial(addr, User, "Hello world!")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

func TestOnlyTheRescueUserWithItsPassword(t *testing.T) {
	addr := serve(t, "")
	for _, tc := range []struct {
		user, password string
		ok             bool
	}{
		{"rescue", "Hello world!", true},
		{"rescue", "Hello world", false},
		{"rescue", "", false},
		{"root", "Hello world!", false},
		{"Rescue", "Hello world!", false},
	} {
		c, err := dial(addr, tc.user, tc.password)
		if c != nil {
			c.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("%s / %q: err %v, want login %v", tc.user, tc.password, err, tc.ok)
		}
	}
}

func TestCommands(t *testing.T) {
	for _, tc := range []struct {
		name, shell, cmd, want string
		code                   int
	}{
		{"built-in exec", "", "echo rescued  ok", "rescued ok\n", 0},
		{"built-in exit status", "", "false", "", 1},
		{"built-in unknown command", "", "no-such-command-x", "", 127},
		{"through a shell", "/bin/sh", "echo $USER; exit 3", "rescue\n", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := login(t, serve(t, tc.shell)).Output(tc.cmd)
			code := 0
			var exit *ssh.ExitError
			if errors.As(err, &exit) {
				code, err = exit.ExitStatus(), nil
			}
			if err != nil || string(out) != tc.want || code != tc.code {
				t.Errorf("%q: out %q, status %d, err %v; want %q, %d", tc.cmd, out, code, err, tc.want, tc.code)
			}
		})
	}
}

// Without a shell, a login session still runs one command per line.
func TestBuiltInShell(t *testing.T) {
	sess := login(t, serve(t, ""))
	var out bytes.Buffer
	sess.Stdout = &out
	sess.Stdin = strings.NewReader("echo one\n\necho two\nexit\necho never\n")
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	if err := sess.Wait(); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "rescue# one\nrescue# rescue# two\nrescue# ") || strings.Contains(s, "never") {
		t.Errorf("session output %q", s)
	}
}

// Port forwarding is not a way around the shell.
func TestNoForwarding(t *testing.T) {
	c, err := dial(serve(t, ""), User, "Hello world!")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if conn, err := c.Dial("tcp", "127.0.0.1:22"); err == nil {
		conn.Close()
		t.Error("direct-tcpip channel accepted")
	}
}

// A client that asks for a terminal gets one, of its size, with its TERM,
// for a command and for a login session (the kernel's line discipline
// echoing what is typed).
func TestPTY(t *testing.T) {
	for _, tc := range []struct {
		name, shell, cmd, input string
		want                    []string
		code                    int
	}{
		{"command", "", "stty size", "", []string{"40 100\r\n"}, 0},
		{"command on its terminal", "", "tty", "", []string{"/dev/pts/"}, 0},
		{"built-in shell", "", "", "tty\rexit\r", []string{"tty\r\n", "/dev/pts/", "rescue# "}, 0},
		{"shell", "/bin/sh", "", "echo $TERM; exit 4\n", []string{"vt220\r\n"}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sess := login(t, serve(t, tc.shell))
			if err := sess.RequestPty("vt220", 40, 100, ssh.TerminalModes{}); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			sess.Stdout = &out
			sess.Stdin = strings.NewReader(tc.input)
			var err error
			if tc.cmd != "" {
				err = sess.Run(tc.cmd)
			} else if err = sess.Shell(); err == nil {
				err = sess.Wait()
			}
			code := 0
			var exit *ssh.ExitError
			if errors.As(err, &exit) {
				code, err = exit.ExitStatus(), nil
			}
			if err != nil || code != tc.code {
				t.Errorf("status %d, err %v; want %d", code, err, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output %q lacks %q", out.String(), w)
				}
			}
		})
	}
}
