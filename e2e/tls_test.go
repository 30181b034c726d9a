package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/e2e/ironiclab"
	"github.com/goipa/goipa/qemu"
)

// TestRealIronicRequireTLS deploys with [agent]require_tls = true: Ironic
// refuses plain-HTTP callback URLs, so the deploy only succeeds if the
// agent advertises https with its auto-TLS certificate, which Ironic stores
// and verifies the agent with (its SAN must be the advertised 127.0.0.1).
func TestRealIronicRequireTLS(t *testing.T) {
	forEachRelease(t, testRealIronicRequireTLS)
}

func testRealIronicRequireTLS(t *testing.T, rel ironiclab.Release) {
	w := newWorld(t, ironiclab.Options{Release: rel, RequireTLS: true})
	img := qemu.DiskImage(16<<20, 2)
	url, sum := w.publish(t, "disk.raw", img)
	target := qemu.SparseDisk(t, 1<<30)
	m := w.enroll(t, ironiclab.NodeSpec{RootDevice: map[string]any{"serial": "target"}}, []qemu.Disk{{Path: target, Serial: "target"}})
	var agentURL, ca string
	m.watch = func(n *ironiclab.Node) {
		if u, _ := n.DriverInternalInfo["agent_url"].(string); u != "" {
			agentURL = u
		}
		// Ironic keeps the PEM the heartbeat carried in a file under
		// [agent]certificates_path and records its path.
		if p, _ := n.DriverInternalInfo["agent_verify_ca"].(string); p != "" && ca == "" {
			if b, err := os.ReadFile(p); err == nil {
				ca = string(b)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if _, err := m.deployImage(ctx, url, sum, "raw", nil); err != nil {
		t.Fatalf("deploy with require_tls: %v", err)
	}
	if !strings.HasPrefix(agentURL, "https://127.0.0.1:") {
		t.Errorf("agent_url %q, want https://127.0.0.1:PORT", agentURL)
	}
	blk, _ := pem.Decode([]byte(ca))
	if blk == nil {
		t.Fatalf("Ironic stored no agent certificate (agent_verify_ca file %q)", ca)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("agent certificate: %v", err)
	}
	if !bytes.Equal(qemu.ReadAt(t, target, 0, len(img)), img) {
		t.Error("the target disk does not hold the image")
	}
}
