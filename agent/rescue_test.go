package agent

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/goipa/goipa/agent/client"
	"github.com/goipa/goipa/tstest/fakeironic"
)

// rescueHash is "Hello world!" as crypt.crypt(pw, crypt.mksalt(METHOD_SHA256))
// makes it, as Ironic 21.4 does by default.
const rescueHash = "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"

func sshLogin(addr, user, password string) (*ssh.Client, error) {
	return ssh.Dial("tcp", addr, &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{ssh.Password(password)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second})
}

// TestRescue: the conductor's rescue.finalize_rescue with the hash Ironic
// 21.4 sends gets IPA's answer, then the API stops, heartbeats stop, and
// only the rescue user with that password logs in over SSH.
func TestRescue(t *testing.T) {
	s, n, r, _ := agentUp(t, fakeironic.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := s.Conductor(n.UUID)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Agent.Run(ctx, "rescue.finalize_rescue", map[string]any{"rescue_password": rescueHash, "hashed": true}, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.CommandStatus != client.StatusSucceeded || res.CommandName != "finalize_rescue" || res.CommandError != nil {
		t.Fatalf("finalize_rescue = %+v", res)
	}
	beats := len(s.Heartbeats(n.UUID))

	login := func(user, password string) (*ssh.Client, error) { return sshLogin(r.sshAddr, user, password) }
	// Listening before the answer: the node Ironic calls rescued next can
	// be logged in to.
	for _, bad := range [][2]string{{"rescue", "hello world!"}, {"root", "Hello world!"}} {
		if cl, err := login(bad[0], bad[1]); err == nil {
			cl.Close()
			t.Errorf("%s / %s logged in", bad[0], bad[1])
		}
	}
	cl, err := login("rescue", "Hello world!")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	apiGone := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(apiGone) {
			t.Fatal("the API still answers after finalize_rescue")
		}
		time.Sleep(50 * time.Millisecond)
	}

	sess, err := cl.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := sess.Output("echo rescued"); err != nil || string(out) != "rescued\n" {
		t.Errorf("command over SSH: %q, %v", out, err)
	}
	if got := len(s.Heartbeats(n.UUID)); got != beats {
		t.Errorf("%d heartbeats after the rescue", got-beats)
	}
}

// TestRescuedAgentStartedAgain: an agent that finds IPA's rescued marker
// serves the rescue user's SSH only: no lookup, no API.
func TestRescuedAgentStartedAgain(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "ipa-rescue-config"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"ipa-rescue-config/ipa-rescue-password": rescueHash, ".rescued": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := fakeironic.NewTest(t, fakeironic.Options{})
	newNode(t, s)
	r := startRescueDir(t, s.URL(), dir)
	var cl *ssh.Client
	for deadline := time.Now().Add(10 * time.Second); cl == nil; time.Sleep(20 * time.Millisecond) {
		var err error
		if cl, err = sshLogin(r.sshAddr, "rescue", "Hello world!"); err != nil && time.Now().After(deadline) {
			t.Fatalf("rescue login: %v", err)
		}
	}
	cl.Close()
	if l := s.Lookups(); len(l) != 0 {
		t.Errorf("a rescued agent looked up: %+v", l)
	}
	if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), time.Second); err == nil {
		conn.Close()
		t.Error("a rescued agent serves its API")
	}
}
