package e2e

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/agent"
	"github.com/goipa/goipa/agent/config"
	"github.com/goipa/goipa/agent/logs"
	"github.com/goipa/goipa/agent/machine"
	"github.com/goipa/goipa/e2e/ironiclab"
	"github.com/goipa/goipa/hardware"
	"github.com/goipa/goipa/tstest/fakesys"
)

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startHostAgent runs goipa in-process as `goipa --api-url … --listen-host
// 127.0.0.1 --advertise-host 127.0.0.1` would, with a fake NIC and, when
// disks is set, the disks it lists (agent.Agent.Disks).
func startHostAgent(t *testing.T, ctx context.Context, apiURL, mac string,
	disks func(context.Context) ([]hardware.BlockDevice, error), extra ...string) (port int, ring *logs.Ring) {
	t.Helper()
	port = freePort(t)
	cmdline := filepath.Join(t.TempDir(), "cmdline")
	os.WriteFile(cmdline, nil, 0o644)
	args := append([]string{"--cmdline-file", cmdline, "--config-dir", t.TempDir(),
		"--api-url", apiURL, "--listen-host", "127.0.0.1", "--advertise-host", "127.0.0.1",
		"--listen-port", strconv.Itoa(port), "--advertise-port", strconv.Itoa(port)}, extra...)
	cfg, err := config.Load(args)
	if err != nil {
		t.Fatal(err)
	}
	ring = logs.NewRing(1<<20, nil)
	log := slog.New(slog.NewTextHandler(ring, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	a := &agent.Agent{Config: cfg, Log: log, Ring: ring, SysfsRoot: fakesys.NIC(t, "goipa-test0", mac),
		Machine: machine.Host{Log: log, Exit: cancel}, Lockdown: cancel, Disks: disks}
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && ctx.Err() == nil {
			t.Errorf("agent: %v", err)
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", ring.Bytes())
		}
	})
	return port, ring
}

// TestRealIronicRecordsAgent is issue 2's acceptance check: with a node in
// wait call-back, the agent's lookup and heartbeat make Debian's Ironic
// record the agent URL (https, auto-TLS) and call deploy.get_deploy_steps.
func TestRealIronicRecordsAgent(t *testing.T) {
	forEachRelease(t, testRealIronicRecordsAgent)
}

func testRealIronicRecordsAgent(t *testing.T, rel ironiclab.Release) {
	lab := ironiclab.Start(t, ironiclab.Options{Release: rel})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const mac = "52:54:00:00:20:01"
	img := serveFile(t, make([]byte, 1<<20))
	node, err := lab.Enroll(ctx, ironiclab.NodeSpec{Name: "goipa-agent-core", MAC: mac, RootDevice: map[string]any{"name": "/dev/nonexistent"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.SetInstanceInfo(ctx, node.UUID, map[string]any{"image_source": img.URL, "image_os_hash_algo": "sha256",
		"image_os_hash_value": img.SHA256, "image_disk_format": "raw"}); err != nil {
		t.Fatal(err)
	}
	if err := lab.Provision(ctx, node.UUID, map[string]any{"target": "active"}, "wait call-back"); err != nil {
		t.Fatal(err)
	}
	port, ring := startHostAgent(t, ctx, lab.URL, mac, nil)

	// The conductor calling deploy.get_deploy_steps over https proves it
	// recorded the callback URL and trusts the certificate the heartbeat
	// carried. (The deploy then fails at once: the root device hint names
	// no disk, on purpose, so nothing on this host can be written; Ironic
	// clears agent_url when it does, so the URL is checked on the way.)
	want := "https://127.0.0.1:" + strconv.Itoa(port)
	sawURL := false
	for !strings.Contains(string(ring.Bytes()), "command=deploy.get_deploy_steps") {
		n, err := lab.Node(ctx, node.UUID)
		if err != nil {
			t.Fatal(err)
		}
		sawURL = sawURL || n.DriverInternalInfo["agent_url"] == want
		select {
		case <-ctx.Done():
			t.Fatalf("Ironic never asked %s for deploy steps; driver_internal_info=%v", want, n.DriverInternalInfo)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if !strings.Contains(string(ring.Bytes()), "callback_url="+want) {
		t.Errorf("the agent did not advertise %s", want)
	}
	n, err := lab.Node(ctx, node.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := n.DriverInternalInfo["agent_version"].(string); !strings.Contains(v, "goipa") {
		t.Errorf("agent_version = %q", v)
	}
	if _, err := os.Stat(filepath.Join(lab.Dir, "certs", node.UUID+".crt")); err != nil {
		t.Errorf("Ironic stored no agent certificate: %v", err)
	}
	t.Logf("agent_url seen while polling: %v", sawURL)
}
