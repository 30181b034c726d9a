package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/goipa/goipa/e2e/ironiclab"
	"github.com/goipa/goipa/qemu"
)

// TestRealIronicRescue: an operator's `baremetal node rescue --rescue-password`
// on an active node has Ironic 21.4 boot goipa as the rescue ramdisk through
// its ipxe boot interface and the agent rescue interface; the node ends in
// rescue once goipa took the password Ironic hashed. Then the password logs
// the rescue user in over SSH (through a forward to the VM's port 22) and
// runs a command, a wrong one is refused, the agent's API answers no more,
// and unrescue takes the node back to active.
func TestRealIronicRescue(t *testing.T) {
	forEachRelease(t, testRealIronicRescue)
}

func testRealIronicRescue(t *testing.T, rel ironiclab.Release) {
	w := newWorld(t, ironiclab.Options{Release: rel, NetBoot: &ironiclab.NetBoot{}})
	img := qemu.DiskImage(16<<20, 3)
	url, sum := w.publish(t, "disk.raw", img)
	target := qemu.SparseDisk(t, 256<<20)
	m := w.enroll(t, ironiclab.NodeSpec{RootDevice: map[string]any{"serial": "target"}, DriverInfo: map[string]any{
		"rescue_kernel": w.imgURL + "/" + deployKernel, "rescue_ramdisk": w.imgURL + "/" + deployRamdisk}},
		[]qemu.Disk{{Path: target, Serial: "target"}})
	m.vm.HostFwds = []int{22}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	if err := w.lab.Do(ctx, "PATCH", "/v1/nodes/"+m.node.UUID,
		[]map[string]any{{"op": "replace", "path": "/rescue_interface", "value": "agent"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := m.deployImage(ctx, url, sum, "raw", nil); err != nil {
		t.Fatalf("deploy: %v", err)
	}

	const password = "r3scue me, goipa"
	start := time.Now()
	out, err := exec.CommandContext(ctx, "baremetal", "--os-auth-type", "none", "--os-endpoint", w.lab.URL,
		"node", "rescue", m.node.UUID, "--rescue-password", password).CombinedOutput()
	if err != nil {
		t.Fatalf("baremetal node rescue: %v: %s", err, out)
	}
	if err := m.bootUntil(ctx, "rescue wait", "rescue"); err != nil {
		t.Fatal(err)
	}
	t.Logf("rescue request → rescue %v", time.Since(start).Round(time.Millisecond))
	defer m.powerOff()
	if !strings.Contains(m.bootConfig, "rescue_kernel") {
		t.Errorf("Ironic did not boot the rescue kernel:\n%s", m.bootConfig)
	}

	login := func(password string) (*ssh.Client, error) {
		return ssh.Dial("tcp", m.cur.HostAddr(22), &ssh.ClientConfig{User: "rescue", Auth: []ssh.AuthMethod{ssh.Password(password)},
			HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 20 * time.Second})
	}
	cl, err := login(password)
	if err != nil {
		t.Fatalf("rescue login: %v", err)
	}
	sess, err := cl.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := sess.CombinedOutput("mdadm --version"); err != nil || !strings.Contains(string(out), "mdadm - v") {
		t.Errorf("mdadm --version over SSH: %q, %v", out, err)
	}
	cl.Close()
	var authErr *ssh.ServerAuthError
	if cl, err := login(password + "!"); !errors.As(err, &authErr) && (err == nil || !strings.Contains(err.Error(), "unable to authenticate")) {
		if cl != nil {
			cl.Close()
		}
		t.Errorf("wrong password: %v, want refused", err)
	}
	hc := &http.Client{Timeout: 3 * time.Second}
	if resp, err := hc.Get("http://" + m.cur.AgentAddr() + "/v1/status"); err == nil {
		resp.Body.Close()
		t.Errorf("the agent's API answers in rescue: %s", resp.Status)
	}

	if _, err := m.provision(ctx, map[string]any{"target": "unrescue"}, "active"); err != nil {
		t.Fatalf("unrescue: %v", err)
	}
}

// bootUntil plays the BMC for a state drive does not know: it boots the
// node's VM once the node is in boot and returns, the VM running, when it
// reaches want.
func (m *baremetal) bootUntil(ctx context.Context, boot, want string) error {
	for {
		n, err := m.w.lab.Node(ctx, m.node.UUID)
		if err != nil {
			return err
		}
		if m.watch != nil {
			m.watch(n)
		}
		switch {
		case n.ProvisionState == want:
			return nil
		case n.ProvisionState == boot && m.cur == nil:
			m.cur = qemu.Start(m.t, m.vm)
			m.booted = m.cur.Started()
			m.boots++
			m.w.callbacks.route(net.JoinHostPort(m.guestIP, strconv.Itoa(qemu.AgentPort)), m.cur.AgentAddr())
		case strings.HasSuffix(n.ProvisionState, "failed") || n.ProvisionState == "error":
			return fmt.Errorf("node is %q, want %q: %s", n.ProvisionState, want, deref(n.LastError))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node still %q (want %q): %w", n.ProvisionState, want, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
