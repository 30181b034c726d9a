package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goipa/goipa/e2e/ironiclab"
	"github.com/goipa/goipa/qemu"
)

// Names of the deploy kernel and ramdisk on the image server.
const (
	deployKernel  = "goipa.kernel"
	deployRamdisk = "goipa.initramfs"
)

// bootServer is the HTTP server of Ironic's http_root ([deploy]http_url as
// the machines reach it through a guest forward), as nginx or Apache would
// be next to a real conductor.
type bootServer struct {
	addr string
	root atomic.Pointer[string] // Ironic's http_root, once the lab runs
}

func startBootServer(t *testing.T) *bootServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &bootServer{addr: ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		root := b.root.Load()
		if root == nil {
			http.Error(w, "no http_root yet", http.StatusServiceUnavailable)
			return
		}
		http.FileServer(http.Dir(*root)).ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return b
}

// serve starts answering from dir, known once Ironic's lab exists.
func (b *bootServer) serve(dir string) { b.root.Store(&dir) }

// enrollNetBoot enrolls a node whose boot interface is Ironic's own
// (spec.BootInterface, default ipxe) with goipa's kernel and ramdisk as
// deploy images; its VM network-boots and gets an address of its own, so
// the conductor's calls to it can be told apart.
func (w *world) enrollNetBoot(t *testing.T, spec ironiclab.NodeSpec, disks []qemu.Disk) *baremetal {
	t.Helper()
	if spec.BootInterface == "" {
		spec.BootInterface = "ipxe"
	}
	// Over HTTP, as an operator publishes deploy images; Ironic caches them.
	spec.DriverInfo["deploy_kernel"] = w.imgURL + "/" + deployKernel
	spec.DriverInfo["deploy_ramdisk"] = w.imgURL + "/" + deployRamdisk
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := w.lab.Enroll(ctx, spec)
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	vm := qemu.Options{MemMB: 384, MAC: spec.MAC, GuestFwds: w.fwds, Disks: disks,
		GuestIP: fmt.Sprintf("10.0.2.%d", 15+w.nextMAC)}
	switch spec.BootInterface {
	case "ipxe":
		vm.NetBoot = fmt.Sprintf("http://%s:%d/boot.ipxe", qemu.GuestServiceIP, guestBootPort)
	case "pxe":
		vm.NetBoot, vm.TFTP = "pxelinux.0", w.lab.TFTPRoot
	default:
		t.Fatalf("boot interface %q does not boot over the network", spec.BootInterface)
	}
	m := &baremetal{w: w, t: t, node: n, vm: vm, guestIP: vm.GuestIP}
	// Ironic removes the node's boot configuration when the operation
	// ends: keep what the machine booted with.
	root := w.lab.HTTPRoot
	if spec.BootInterface == "pxe" {
		root = w.lab.TFTPRoot
	}
	m.watch = func(*ironiclab.Node) {
		if b, err := os.ReadFile(filepath.Join(root, n.UUID, "config")); err == nil {
			m.bootConfig = string(b)
		}
	}
	return m
}

// kernelLine returns the kernel command line of the ramdisk entry of an
// iPXE or PXELINUX configuration Ironic rendered.
func kernelLine(t *testing.T, config string) string {
	t.Helper()
	for _, ln := range strings.Split(config, "\n") {
		f := strings.Fields(ln)
		switch {
		case len(f) > 2 && f[0] == "kernel" && strings.Contains(ln, "deploy_kernel"):
			return strings.Join(f[2:], " ") // iPXE: kernel URL args…
		case len(f) > 1 && f[0] == "append" && strings.Contains(ln, "deploy_ramdisk"):
			return strings.Join(f[1:], " ") // PXELINUX: append args…
		}
	}
	t.Fatalf("no deploy kernel line in Ironic's boot configuration:\n%s", config)
	return ""
}

// checkIronicLine asserts the machine booted Ironic's own kernel line:
// the bare words of its template and [pxe]kernel_append_params' default,
// the agent options, and nothing a test would add.
func checkIronicLine(t *testing.T, m *baremetal) {
	t.Helper()
	line := kernelLine(t, m.bootConfig)
	t.Logf("kernel line Ironic rendered: %s", line)
	words := strings.Fields(line)
	wants := []string{"text", "nofb", "vga=normal", "selinux=0", "troubleshoot=0",
		fmt.Sprintf("ipa-api-url=http://%s:%d", qemu.GuestServiceIP, guestIronicPort)}
	// kernel_append_params' default lost nomodeset after 21.4.
	if m.w.lab.Release == ironiclab.Ironic21 {
		wants = append(wants, "nomodeset")
	}
	for _, want := range wants {
		if !slices.Contains(words, want) {
			t.Errorf("kernel line lacks %q", want)
		}
	}
	for _, w := range words {
		if strings.HasPrefix(w, "console=") || strings.HasPrefix(w, "goipa.") || strings.HasPrefix(w, "ipa-advertise") {
			t.Errorf("kernel line has %q, which Ironic does not write", w)
		}
	}
}

// PXELINUX from Debian's pxelinux and syslinux-common packages: what an
// operator puts in Ironic's TFTP root for its pxe boot interface.
var pxelinuxFiles = []string{"/usr/lib/PXELINUX/pxelinux.0", "/usr/lib/syslinux/modules/bios/ldlinux.c32"}

// TestRealIronicNetBoot has Ironic boot the ramdisk the way it boots a
// rack: through its ipxe and pxe boot interfaces, with the kernel line its
// templates render, [pxe]kernel_append_params at its default and nothing of
// the test's own. Deploys, cleaning and inspection go that way.
func TestRealIronicNetBoot(t *testing.T) {
	forEachRelease(t, testRealIronicNetBoot)
}

func testRealIronicNetBoot(t *testing.T, rel ironiclab.Release) {
	w := newWorld(t, ironiclab.Options{Release: rel, EraseZeroize: true, Inspector: true, NetBoot: &ironiclab.NetBoot{}})
	img := qemu.DiskImage(64<<20, 1)
	url, sum := w.publish(t, "disk.raw", img)

	deploy := func(t *testing.T, boot string) {
		target := qemu.SparseDisk(t, 1<<30)
		m := w.enroll(t, ironiclab.NodeSpec{BootInterface: boot, RootDevice: map[string]any{"serial": "target"}},
			[]qemu.Disk{{Path: target, Serial: "target"}})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		start := time.Now()
		if _, err := m.deployImage(ctx, url, sum, "raw", nil); err != nil {
			t.Fatalf("deploy: %v", err)
		}
		t.Logf("%s deploy: provision request → active %v", boot, time.Since(start).Round(time.Millisecond))
		checkIronicLine(t, m)
		if !bytes.Equal(qemu.ReadAt(t, target, 0, len(img)), img) {
			t.Error("the target disk does not hold the image")
		}
		if m.boots != 1 {
			t.Errorf("%d network boots, want 1", m.boots)
		}
	}
	t.Run("ipxe-deploy", func(t *testing.T) { deploy(t, "ipxe") })

	t.Run("ipxe-clean", func(t *testing.T) {
		target := qemu.SparseDisk(t, 256<<20)
		if out, err := exec.Command("sgdisk", "-n", "1:2048:+64M", "-t", "1:8300", target).CombinedOutput(); err != nil {
			t.Fatalf("sgdisk: %v %s", err, out)
		}
		data := bytes.Repeat([]byte("old tenant data "), 1<<16) // 1 MiB
		f, err := os.OpenFile(target, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteAt(data, 100<<20)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		m := w.enroll(t, ironiclab.NodeSpec{RootDevice: map[string]any{"serial": "target"}},
			[]qemu.Disk{{Path: target, Serial: "target"}})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if _, err := m.provision(ctx, map[string]any{"target": "manage"}, "manageable"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := m.provision(ctx, map[string]any{"target": "clean", "clean_steps": []any{
			map[string]any{"interface": "deploy", "step": "erase_devices_metadata"},
			map[string]any{"interface": "deploy", "step": "erase_devices"}}}, "manageable"); err != nil {
			t.Fatalf("clean: %v", err)
		}
		t.Logf("ipxe clean: clean → manageable %v", time.Since(start).Round(time.Millisecond))
		checkIronicLine(t, m)
		if !allZero(t, target, 0, 34*512) || !allZero(t, target, 100<<20, len(data)) {
			t.Error("partition table or data left after cleaning")
		}
	})

	t.Run("ipxe-inspect", func(t *testing.T) {
		target := qemu.SparseDisk(t, 2<<30)
		m := w.enroll(t, ironiclab.NodeSpec{InspectInterface: w.lab.InspectInterface, RootDevice: map[string]any{"serial": "target"}},
			[]qemu.Disk{{Path: target, Serial: "target"}})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if _, err := m.provision(ctx, map[string]any{"target": "manage"}, "manageable"); err != nil {
			t.Fatal(err)
		}
		props := m.inspect(ctx)
		if want := "ipa-inspection-callback-url=" + w.inspectionCallback(); !strings.Contains(kernelLine(t, m.bootConfig), want) {
			t.Errorf("Ironic did not boot the node for inspection with %s:\n%s", want, m.bootConfig)
		}
		if f, _ := strconv.ParseFloat(fmt.Sprint(props["local_gb"]), 64); f != 1 {
			t.Errorf("local_gb = %v, want 1 (the 2 GiB disk the root device hint names)", props["local_gb"])
		}
	})

	t.Run("pxe-deploy", func(t *testing.T) {
		for _, f := range pxelinuxFiles {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Skipf("PXELINUX not installed (make deps-ironic): %v", err)
			}
			if err := os.WriteFile(filepath.Join(w.lab.TFTPRoot, filepath.Base(f)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		deploy(t, "pxe")
	})
}

// TestRealIronicAutomatedClean: provide with Ironic's cleaning defaults
// (automated cleaning, erase_devices at priority 10 with its default
// driver_internal_info) on a node whose disk is NVMe, booted through the
// ipxe boot interface, ends available, and the namespace reads back zeros:
// goipa formats it itself, where IPA needs nvme-cli. With Ironic's default
// agent_continue_if_secure_erase_failed=false an NVMe disk is never
// overwritten instead, so available means Format NVM succeeded.
func TestRealIronicAutomatedClean(t *testing.T) {
	forEachRelease(t, testRealIronicAutomatedClean)
}

func testRealIronicAutomatedClean(t *testing.T, rel ironiclab.Release) {
	w := newWorld(t, ironiclab.Options{Release: rel, DefaultCleaning: true, NetBoot: &ironiclab.NetBoot{}})
	disk := qemu.SparseDisk(t, 512<<20)
	f, err := os.OpenFile(disk, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt(bytes.Repeat([]byte("previous tenant "), 1<<16), 200<<20)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	m := w.enroll(t, ironiclab.NodeSpec{Manageable: true}, []qemu.Disk{{Path: disk, Serial: "nvme-0", NVMe: true}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	n, err := m.provision(ctx, map[string]any{"target": "provide"}, "available")
	if err != nil {
		t.Fatalf("provide: %v", err)
	}
	t.Logf("provide → available (automated cleaning) %v", time.Since(start).Round(time.Millisecond))
	if m.boots != 1 {
		t.Errorf("%d ramdisk boots, want 1", m.boots)
	}
	if !allZero(t, disk, 0, 512<<20) {
		t.Error("the NVMe namespace does not read back zeros after automated cleaning")
	}
	if steps, _ := n.DriverInternalInfo["clean_steps"].([]any); steps != nil {
		t.Logf("clean steps left: %v", steps)
	}
}
