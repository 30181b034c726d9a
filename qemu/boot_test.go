package qemu

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/internal/runner"
)

// bootTimeout bounds each boot; a 2-core CI host shared with other jobs can
// be several times slower than the few seconds an idle one takes.
const bootTimeout = 120 * time.Second

func TestStatusStaticIP(t *testing.T) {
	kernel, initrd := Images(t)
	vm := Start(t, Options{Kernel: kernel, Initrd: initrd, Append: "goipa.net=static"})
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	if err := vm.WaitAgent(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("QEMU start → /v1/status: %v", time.Since(vm.Started()).Round(10*time.Millisecond))

	resp, err := http.Get(vm.AgentURL() + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		StartedAt float64 `json:"started_at"`
		Version   string  `json:"version"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.StartedAt == 0 {
		t.Fatalf("GET /v1/status: %d, %+v, %v", resp.StatusCode, st, err)
	}
	if !strings.Contains(vm.Console(), "ramdisk: static address") {
		t.Error("console does not show goipa.net=static applied")
	}
}

// TestLookupHeartbeatDHCP is the production path: DHCP, then lookup and
// heartbeat against Ironic at the ipa-api-url given on the kernel command line.
func TestLookupHeartbeatDHCP(t *testing.T) {
	kernel, initrd := Images(t)
	l := newLab(t, nil)
	vm := Start(t, Options{Kernel: kernel, Initrd: initrd, GuestFwds: l.fwds,
		Append: l.append() + " BOOTIF=01-" + strings.ReplaceAll(DefaultMAC, ":", "-") + " goipa.hostname=vmtest"})
	hb := l.firstHeartbeat(t)
	t.Logf("QEMU start → first heartbeat: %v", hb.Time.Sub(vm.Started()).Round(10*time.Millisecond))

	lookups := l.ironic.Lookups()
	if len(lookups) == 0 {
		t.Fatal("heartbeat without lookup")
	}
	if got := lookups[0].Query.Get("addresses"); !strings.Contains(got, DefaultMAC) {
		t.Errorf("lookup addresses %q lack the NIC's MAC %s", got, DefaultMAC)
	}
	if got, want := hb.Body.AgentToken, lookups[len(lookups)-1].Token; got == "" || got != want {
		t.Errorf("heartbeat agent_token = %q, want the lookup's %q", got, want)
	}
	// slirp's DHCP hands out 10.0.2.15: the agent must advertise that
	// address (https: the fake Ironic's API version gets auto TLS).
	if u, err := url.Parse(hb.Body.CallbackURL); err != nil || u.Host != "10.0.2.15:9999" {
		t.Errorf("heartbeat callback_url = %q, want one for 10.0.2.15:9999", hb.Body.CallbackURL)
	}
	console := vm.Console()
	for _, want := range []string{"ramdisk: DHCP lease", "hostname=vmtest"} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q", want)
		}
	}
}

// TestSmallMemory boots the vm profile in the smallest VM it promises to
// support (the server profile, with every NIC and HBA driver, needs 256 MiB,
// which the other tests give it).
func TestSmallMemory(t *testing.T) {
	kernel, _ := Images(t)
	initrd := VMInitrd(t)
	l := newLab(t, nil)
	vm := Start(t, Options{Kernel: kernel, Initrd: initrd, MemMB: 128, GuestFwds: l.fwds, Append: l.append()})
	hb := l.firstHeartbeat(t)
	t.Logf("128 MiB: QEMU start → first heartbeat: %v", hb.Time.Sub(vm.Started()).Round(10*time.Millisecond))
	// Still alive once everything is loaded (the OOM killer strikes then).
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	if err := vm.WaitConsole(ctx, "ramdisk: all modules loaded"); err != nil {
		t.Fatal(err)
	}
	if err := vm.WaitAgent(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestDisksUntouched: booting the agent (modules, md probing, inventory)
// must not write to the machine's disks.
func TestDisksUntouched(t *testing.T) {
	kernel, initrd := Images(t)
	dir := t.TempDir()
	raw := filepath.Join(dir, "data.raw")
	data := make([]byte, 32<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(raw, data, 0o644); err != nil {
		t.Fatal(err)
	}
	qcow := filepath.Join(dir, "data.qcow2")
	if _, err := (runner.Exec{}).Run(context.Background(), runner.Command("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow)); err != nil {
		t.Fatal(err)
	}
	blank := filepath.Join(dir, "blank.raw")
	if err := os.WriteFile(blank, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(blank, 64<<20); err != nil {
		t.Fatal(err)
	}
	files := []string{raw, qcow, blank}
	before := hashes(t, files...)

	l := newLab(t, nil)
	vm := Start(t, Options{Kernel: kernel, Initrd: initrd, GuestFwds: l.fwds, Append: l.append(),
		Disks: []Disk{{Path: raw, Serial: "data-raw"}, {Path: qcow, Format: "qcow2", Serial: "data-qcow2"}, {Path: blank, Serial: "blank"}}})
	l.firstHeartbeat(t)
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	if err := vm.WaitConsole(ctx, "ramdisk: all modules loaded"); err != nil {
		t.Fatal(err)
	}
	vm.Kill()
	after := hashes(t, files...)
	for i, f := range files {
		if before[i] != after[i] {
			t.Errorf("%s changed: sha256 %s → %s", filepath.Base(f), before[i], after[i])
		}
	}
}

func hashes(t *testing.T, paths ...string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, hex.EncodeToString(h.Sum(nil)))
	}
	return out
}

// TestServerProfileUSB boots the server profile with a USB keyboard and a
// USB stick behind xHCI: the host controller's driver loads because its PCI
// device is there, and the keyboard's and the stick's drivers when the bus
// enumerates them, after boot, from their uevents.
func TestServerProfileUSB(t *testing.T) {
	kernel, initrd := Images(t)
	l := newLab(t, nil)
	vm := Start(t, Options{Kernel: kernel, Initrd: initrd, MemMB: 256, GuestFwds: l.fwds, Append: l.append() + " ipa-debug=1",
		USBKeyboard: true, Disks: []Disk{{Path: SparseDisk(t, 64<<20), Serial: "usbstick", USB: true}}})
	l.firstHeartbeat(t)
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	for _, mod := range []string{"xhci_pci", "usb_storage", "usbhid"} {
		if err := vm.WaitConsole(ctx, "module loaded\" module="+mod+" "); err != nil {
			t.Errorf("%s not loaded: %v", mod, err)
		}
	}
}
