package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/e2e/ironiclab"
	"github.com/goipa/goipa/qemu"
)

// Guest-side ports of the forwards to the host's Ironic and image proxy
// (10.0.2.100:PORT in the VM).
const (
	guestIronicPort = 6385
	guestProxyPort  = 3128
	// guestInspectorPort is ironic-inspector's, when the lab runs one.
	guestInspectorPort = 5050
	// guestBootPort serves Ironic's HTTP root (boot.ipxe, configs,
	// kernels) when Ironic boots the machines (Options.NetBoot).
	guestBootPort = 8080
)

// world is a real Ironic, an image server and the loopback proxy the guest
// downloads through, shared by the subtests of one test function.
type world struct {
	t       *testing.T
	lab     *ironiclab.Lab
	images  string // directory served at imageURL
	imgURL  string // http://127.0.0.1:P
	proxy   *loopbackProxy
	fwds    []qemu.Fwd
	kernel  string
	initrd  string
	nextMAC int
	// callbacks carries the conductor's calls to agents booted by Ironic
	// itself; nil when the harness boots the ramdisk (fake boot).
	callbacks *callbackProxy
	// bzImage is the deploy kernel Ironic hands iPXE and PXELINUX.
	bzImage string
}

// newWorld skips the test unless Ironic and the ramdisk images exist. With
// a non-nil opts.NetBoot (its fields are filled in here) Ironic boots the
// machines through its ipxe and pxe boot interfaces: QEMU's iPXE ROM
// chains the boot.ipxe Ironic wrote, served from its HTTP root, and the
// ramdisk starts on exactly the kernel line Ironic rendered.
func newWorld(t *testing.T, opts ironiclab.Options) *world {
	t.Helper()
	ironiclab.Require(t, opts.Release)
	kernel, initrd := qemu.Images(t)
	w := &world{t: t, images: t.TempDir(), proxy: newLoopbackProxy(), kernel: kernel, initrd: initrd}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(w.images))}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	w.imgURL = "http://" + ln.Addr().String()
	opts.ImageURL = w.imgURL
	var boot *bootServer
	if nb := opts.NetBoot; nb != nil {
		w.bzImage = qemu.BzImage(t)
		w.callbacks = newCallbackProxy()
		boot = startBootServer(t)
		guest := func(port int) string { return fmt.Sprintf("http://%s:%d", qemu.GuestServiceIP, port) }
		*nb = ironiclab.NetBoot{HTTPURL: guest(guestBootPort), APIURL: guest(guestIronicPort),
			InspectorURL: guest(guestInspectorPort), TFTPServer: qemu.GuestHostIP,
			Proxy: "http://" + startProxy(t, w.callbacks)}
	}
	w.lab = ironiclab.Start(t, opts)
	w.fwds = []qemu.Fwd{
		{GuestPort: guestIronicPort, HostAddr: strings.TrimPrefix(w.lab.URL, "http://")},
		{GuestPort: guestProxyPort, HostAddr: startProxy(t, w.proxy)},
	}
	if boot != nil {
		for name, path := range map[string]string{deployKernel: w.bzImage, deployRamdisk: w.initrd} {
			if err := os.Symlink(path, filepath.Join(w.images, name)); err != nil {
				t.Fatal(err)
			}
		}
		boot.serve(w.lab.HTTPRoot)
		w.fwds = append(w.fwds, qemu.Fwd{GuestPort: guestBootPort, HostAddr: boot.addr})
	}
	if w.lab.InspectorURL != "" {
		w.fwds = append(w.fwds, qemu.Fwd{GuestPort: guestInspectorPort, HostAddr: strings.TrimPrefix(w.lab.InspectorURL, "http://")})
	}
	return w
}

// publish serves data as name; it returns the host URL Ironic is given
// and the sha256.
func (w *world) publish(t *testing.T, name string, data []byte) (url, sum string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(w.images, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return w.imgURL + "/" + name, hex.EncodeToString(s[:])
}

// baremetal is one enrolled node and the VM options its "BMC" boots.
type baremetal struct {
	w     *world
	t     *testing.T
	node  *ironiclab.Node
	vm    qemu.Options
	cur   *qemu.VM
	boots int
	// booted is when the current VM was started.
	booted time.Time
	// watch, when set, sees every node record drive polls.
	watch func(*ironiclab.Node)
	// poll is drive's polling interval (default 100 ms).
	poll time.Duration
	// guestIP is the VM's address in its network, when Ironic boots it.
	guestIP string
	// bootConfig is the last iPXE or PXELINUX configuration Ironic wrote
	// for the node, when Ironic boots it.
	bootConfig string
}

// enroll creates a node whose port has a fresh MAC, given to the VM, and
// whose driver_info sends image downloads through the loopback proxy.
func (w *world) enroll(t *testing.T, spec ironiclab.NodeSpec, disks []qemu.Disk) *baremetal {
	t.Helper()
	w.nextMAC++
	mac := fmt.Sprintf("52:54:00:9a:00:%02x", w.nextMAC)
	spec.MAC = mac
	if spec.Name == "" {
		spec.Name = strings.NewReplacer("/", "-", "_", "-").Replace(strings.ToLower(t.Name()))
	}
	if spec.DriverInfo == nil {
		spec.DriverInfo = map[string]any{}
	}
	spec.DriverInfo["image_http_proxy"] = fmt.Sprintf("http://%s:%d", qemu.GuestServiceIP, guestProxyPort)
	if w.callbacks != nil {
		return w.enrollNetBoot(t, spec, disks)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := w.lab.Enroll(ctx, spec)
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	// What Ironic's PXE configuration would pass (fake boot passes nothing).
	cmdline := fmt.Sprintf("ipa-api-url=http://%s:%d", qemu.GuestServiceIP, guestIronicPort)
	if cb := w.inspectionCallback(); cb != "" {
		cmdline += " ipa-inspection-callback-url=" + cb
	}
	return &baremetal{w: w, t: t, node: n, vm: qemu.Options{Kernel: w.kernel, Initrd: w.initrd, MemMB: 384, MAC: mac,
		Append: cmdline, Advertise: true, GuestFwds: w.fwds, Disks: disks}}
}

// inspectionCallback is where the ramdisk posts its inspection data, as
// the guest reaches it: ironic-inspector on 21.4, Ironic itself on 35; ""
// without in-band inspection.
func (w *world) inspectionCallback() string {
	switch w.lab.InspectInterface {
	case "inspector":
		return fmt.Sprintf("http://%s:%d/v1/continue", qemu.GuestServiceIP, guestInspectorPort)
	case "agent":
		return fmt.Sprintf("http://%s:%d/v1/continue_inspection", qemu.GuestServiceIP, guestIronicPort)
	}
	return ""
}

// Provision states in which the node waits for a ramdisk to call back.
var waitStates = []string{"wait call-back", "clean wait", "inspect wait"}

// drive plays the node's BMC until it reaches one of want: Ironic's fake
// power and boot interfaces never boot anything, so a fresh VM is started
// when the node waits for its agent, and killed when the operation ends.
// On a failure state not in want it returns the node and an error.
func (m *baremetal) drive(ctx context.Context, want ...string) (*ironiclab.Node, error) {
	m.t.Helper()
	poll := m.poll
	if poll == 0 {
		poll = 100 * time.Millisecond
	}
	for {
		n, err := m.w.lab.Node(ctx, m.node.UUID)
		if err != nil {
			return nil, err
		}
		if m.watch != nil {
			m.watch(n)
		}
		if slices.Contains(waitStates, n.ProvisionState) && m.cur == nil {
			m.cur = qemu.Start(m.t, m.vm)
			m.booted = m.cur.Started()
			m.boots++
			if m.guestIP != "" {
				m.w.callbacks.route(net.JoinHostPort(m.guestIP, strconv.Itoa(qemu.AgentPort)), m.cur.AgentAddr())
			}
		}
		if m.cur != nil && slices.Contains(waitStates, n.ProvisionState) && time.Since(m.booted) > silentBoot &&
			!heartbeatSince(n, m.booted) {
			m.powerOff()
			return n, fmt.Errorf("node %q: no heartbeat from the ramdisk %v after its VM started", n.ProvisionState, silentBoot)
		}
		failed := strings.HasSuffix(n.ProvisionState, "failed") || n.ProvisionState == "error"
		if slices.Contains(want, n.ProvisionState) || failed {
			m.powerOff()
			if !slices.Contains(want, n.ProvisionState) {
				return n, fmt.Errorf("node is %q, want %v: %s", n.ProvisionState, want, deref(n.LastError))
			}
			return n, nil
		}
		select {
		case <-ctx.Done():
			m.powerOff()
			return n, fmt.Errorf("node still %q (want %v): %w", n.ProvisionState, want, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// silentBoot bounds how long a booted ramdisk may take to heartbeat, so a
// ramdisk that never comes up fails the test with that, rather than with
// Ironic's 15-minute callback timeout or the test's own deadline.
const silentBoot = 150 * time.Second

// heartbeatSince reports whether Ironic recorded an agent heartbeat for n
// after t (driver_internal_info.agent_last_heartbeat, UTC without a zone).
func heartbeatSince(n *ironiclab.Node, t time.Time) bool {
	s, _ := n.DriverInternalInfo["agent_last_heartbeat"].(string)
	hb, err := time.Parse("2006-01-02T15:04:05.999999", s)
	return err == nil && hb.After(t.UTC())
}

// powerOff ends the current VM, if any; the agent may have powered it off
// already (standby.power_off).
func (m *baremetal) powerOff() {
	if m.cur != nil {
		m.cur.Kill()
		m.cur = nil
	}
}

// provision requests a provision state change and drives the node to want.
func (m *baremetal) provision(ctx context.Context, req map[string]any, want ...string) (*ironiclab.Node, error) {
	m.t.Helper()
	if err := m.w.lab.Provision(ctx, m.node.UUID, req); err != nil {
		return nil, err
	}
	return m.drive(ctx, want...)
}

// inspect runs in-band inspection (manageable → inspect → manageable),
// checks it finished without error (in ironic-inspector's status too,
// when it ran) and returns the node's properties as inspection left them.
func (m *baremetal) inspect(ctx context.Context) map[string]any {
	m.t.Helper()
	start := time.Now()
	if _, err := m.provision(ctx, map[string]any{"target": "inspect"}, "manageable"); err != nil {
		m.t.Fatalf("inspection: %v", err)
	}
	m.t.Logf("inspect → manageable %v", time.Since(start).Round(time.Millisecond))
	if m.w.lab.InspectorURL != "" {
		st, err := m.w.lab.Introspection(ctx, m.node.UUID)
		if err != nil {
			m.t.Fatal(err)
		}
		if !st.Finished || st.Error != nil {
			m.t.Errorf("inspector status %+v (error %s)", st, deref(st.Error))
		}
	}
	var n struct {
		Properties map[string]any `json:"properties"`
		LastError  *string        `json:"last_error"`
		Finished   *string        `json:"inspection_finished_at"`
	}
	if err := m.w.lab.Do(ctx, "GET", "/v1/nodes/"+m.node.UUID, nil, &n); err != nil {
		m.t.Fatal(err)
	}
	if n.Finished == nil || n.LastError != nil {
		m.t.Errorf("inspection_finished_at %v, last_error %q", n.Finished, deref(n.LastError))
	}
	return n.Properties
}

// forEachRelease runs f as one subtest per Ironic release, named after it.
func forEachRelease(t *testing.T, f func(t *testing.T, rel ironiclab.Release)) {
	for _, rel := range ironiclab.Releases {
		t.Run(string(rel), func(t *testing.T) { f(t, rel) })
	}
}

// deployImage sets instance_info for a published image and deploys it.
func (m *baremetal) deployImage(ctx context.Context, url, sum, format string, req map[string]any) (*ironiclab.Node, error) {
	m.t.Helper()
	if err := m.w.lab.SetInstanceInfo(ctx, m.node.UUID, map[string]any{"image_source": url, "image_os_hash_algo": "sha256",
		"image_os_hash_value": sum, "image_disk_format": format}); err != nil {
		return nil, err
	}
	if req == nil {
		req = map[string]any{}
	}
	req["target"] = "active"
	return m.provision(ctx, req, "active")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// allZero reports whether n bytes at off are zero.
func allZero(t *testing.T, path string, off int64, n int) bool {
	t.Helper()
	return bytes.Count(qemu.ReadAt(t, path, off, n), []byte{0}) == n
}
