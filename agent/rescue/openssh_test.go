package rescue

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenSSHClient: OpenSSH's client, a peer independent of x/crypto/ssh,
// agrees on key exchange, host key and ciphers, logs in with the password
// (given through SSH_ASKPASS, as no terminal asks for it here) and runs a
// command on a terminal; a wrong password is refused.
func TestOpenSSHClient(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no OpenSSH client")
	}
	_, port, _ := net.SplitHostPort(serve(t, ""))
	dir := t.TempDir()
	for _, tc := range []struct {
		password string
		ok       bool
	}{{"Hello world!", true}, {"hello world!", false}} {
		askpass := filepath.Join(dir, "askpass")
		if err := os.WriteFile(askpass, []byte("#!/bin/sh\necho '"+tc.password+"'\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("ssh", "-F", "/dev/null", "-p", port, "-tt",
			"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
			"-o", "PubkeyAuthentication=no", "-o", "NumberOfPasswordPrompts=1", "rescue@127.0.0.1", "tty")
		cmd.Env = append(os.Environ(), "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=none")
		out, err := cmd.CombinedOutput()
		if got := err == nil && strings.Contains(string(out), "/dev/pts/"); got != tc.ok {
			t.Errorf("password %q: %v: %s", tc.password, err, out)
		}
	}
}
