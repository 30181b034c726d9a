package qemu

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/goipa/goipa/agent/client"
	"github.com/goipa/goipa/tstest/fakeironic"
)

// rescueHash is "Hello world!" as Ironic 21.4 hashes a rescue password
// ([conductor]rescue_password_hash_algorithm=sha256).
const rescueHash = "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"

// TestRescue boots the ramdisk for a node in rescue wait, calls
// rescue.finalize_rescue as the conductor does, and then logs in over SSH
// through a host forward to the guest's port 22: the rescue user with its
// password runs a command of the ramdisk, also in a login session on a
// terminal, anything else is refused, and the agent's API answers no more.
func TestRescue(t *testing.T) {
	kernel, initrd := Images(t)
	l := newLab(t, nil)
	if err := l.ironic.SetProvisionState(l.node.UUID, fakeironic.StateRescueWait); err != nil {
		t.Fatal(err)
	}
	vm := Start(t, Options{Kernel: kernel, Initrd: initrd, Append: l.append(), Advertise: true,
		GuestFwds: l.fwds, HostFwds: []int{22}})
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	c := l.conductor(ctx, t)
	defer c.Close()

	res, err := c.Agent.Run(ctx, "rescue.finalize_rescue", map[string]any{"rescue_password": rescueHash, "hashed": true}, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.CommandStatus != client.StatusSucceeded || res.CommandError != nil {
		t.Fatalf("finalize_rescue = %+v", res)
	}
	rescued := time.Now()

	login := func(user, password string) (*ssh.Client, error) {
		return ssh.Dial("tcp", vm.HostAddr(22), &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{ssh.Password(password)},
			HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
	}
	// The server listens before the answer: Ironic reports the node rescued
	// at once.
	cl, err := login("rescue", "Hello world!")
	if err != nil {
		t.Fatalf("rescue login: %v", err)
	}
	defer cl.Close()
	t.Logf("finalize_rescue → SSH login: %v", time.Since(rescued).Round(10*time.Millisecond))

	// slirp accepts the host's connection whatever the guest does, so the
	// API is gone when a request gets no answer.
	for {
		short, cancelShort := context.WithTimeout(ctx, time.Second)
		_, err := c.Agent.Status(short)
		cancelShort()
		if err != nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the agent's API still answers after finalize_rescue")
		}
		time.Sleep(100 * time.Millisecond)
	}

	sess, err := cl.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.CombinedOutput("mdadm --version")
	if err != nil || !strings.Contains(string(out), "mdadm - v") {
		t.Errorf("mdadm --version over SSH: %q, %v", out, err)
	}
	// An interactive login: a terminal from the ramdisk's devpts, and the
	// built-in line runner of a ramdisk without a shell.
	if sess, err = cl.NewSession(); err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
		t.Fatalf("pty: %v", err)
	}
	// Return is what a terminal sends for Enter.
	sess.Stdin = strings.NewReader("mdadm --version\rexit\r")
	var term strings.Builder
	sess.Stdout = &term
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- sess.Wait() }()
	select {
	case err = <-ended:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil || !strings.Contains(term.String(), "mdadm - v") || !strings.Contains(term.String(), "rescue# ") {
		t.Errorf("login session: %q, %v", term.String(), err)
	}
	for _, bad := range [][2]string{{"rescue", "hello world!"}, {"root", "Hello world!"}} {
		cl, err := login(bad[0], bad[1])
		if err == nil {
			cl.Close()
		}
		var authErr *ssh.ServerAuthError
		if !errors.As(err, &authErr) && (err == nil || !strings.Contains(err.Error(), "unable to authenticate")) {
			t.Errorf("%s / %q: %v, want refused", bad[0], bad[1], err)
		}
	}
	if _, err := c.Agent.Status(ctx); err == nil {
		t.Error("the agent's API answers again")
	}
	if !strings.Contains(vm.Console(), "rescue SSH server listening") {
		t.Error("the console does not show the rescue SSH server's host key")
	}
}
