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

const ironicURL = "ipa-api-url=http://" + ironicGuestIP

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
	ir := newIronic(t)
	vm := Start(t, Options{Kernel: kernel, Initrd: initrd, GuestFwds: []Fwd{ir.fwd()},
		Append: ironicURL + " BOOTIF=01-" + strings.ReplaceAll(DefaultMAC, ":", "-") + " goipa.hostname=vmtest"})
	hb, ok := ir.firstHeartbeat(bootTimeout)
	if !ok {
		t.Fatalf("no heartbeat within %v", bootTimeout)
	}
	t.Logf("QEMU start → first heartbeat: %v", hb.at.Sub(vm.Started()).Round(10*time.Millisecond))

	lookups := ir.lookupQueries()
	if len(lookups) == 0 {
		t.Fatal("heartbeat without lookup")
	}
	q, err := url.ParseQuery(lookups[0])
	if err != nil || !strings.Contains(q.Get("addresses"), DefaultMAC) {
		t.Errorf("lookup query %q lacks the NIC's MAC %s", lookups[0], DefaultMAC)
	}
	if got := hb.body["agent_token"]; got != testToken {
		t.Errorf("heartbeat agent_token = %v, want the lookup's", got)
	}
	// slirp's DHCP hands out 10.0.2.15: the agent must advertise that
	// address (https: API 1.99 gets auto TLS).
	cb, _ := hb.body["callback_url"].(string)
	if u, err := url.Parse(cb); err != nil || u.Host != "10.0.2.15:9999" {
		t.Errorf("heartbeat callback_url = %q, want one for 10.0.2.15:9999", cb)
	}
	console := vm.Console()
	for _, want := range []string{"ramdisk: DHCP lease", "hostname=vmtest"} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q", want)
		}
	}
}

// TestSmallMemory boots in the smallest VM the issue promises to support.
func TestSmallMemory(t *testing.T) {
	kernel, initrd := Images(t)
	ir := newIronic(t)
	vm := Start(t, Options{Kernel: kernel, Initrd: initrd, MemMB: 128, GuestFwds: []Fwd{ir.fwd()}, Append: ironicURL})
	hb, ok := ir.firstHeartbeat(bootTimeout)
	if !ok {
		t.Fatalf("no heartbeat from a 128 MiB VM within %v", bootTimeout)
	}
	t.Logf("128 MiB: QEMU start → first heartbeat: %v", hb.at.Sub(vm.Started()).Round(10*time.Millisecond))
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

	ir := newIronic(t)
	vm := Start(t, Options{Kernel: kernel, Initrd: initrd, GuestFwds: []Fwd{ir.fwd()}, Append: ironicURL,
		Disks: []Disk{{Path: raw, Serial: "data-raw"}, {Path: qcow, Format: "qcow2", Serial: "data-qcow2"}, {Path: blank, Serial: "blank"}}})
	if _, ok := ir.firstHeartbeat(bootTimeout); !ok {
		t.Fatalf("no heartbeat within %v", bootTimeout)
	}
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
