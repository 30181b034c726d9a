package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/hardware"
	"github.com/goipa/goipa/tstest/fakeironic"
)

const guestInspectorPort = 5050

// TestInspectionInventory: the inventory the ramdisk sends at inspection is
// what the VM has — the disks with the serials and sizes on QEMU's command
// line, the NIC with its MAC and DHCP address, the memory — and lookup then
// uses the UUID the inspection service answered with.
func TestInspectionInventory(t *testing.T) {
	kernel, initrd := Images(t)
	l := newLab(t, nil)
	got := make(chan []byte, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var raw json.RawMessage
		json.NewDecoder(r.Body).Decode(&raw)
		select {
		case got <- raw:
		default:
		}
		fmt.Fprintf(w, `{"uuid":%q}`, l.node.UUID)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	fwds := append(l.fwds, Fwd{GuestPort: guestInspectorPort, HostAddr: ln.Addr().String()})
	app := l.append() + fmt.Sprintf(" ipa-inspection-callback-url=http://%s:%d/v1/continue ipa-inspection-collectors=default,pci-devices",
		GuestServiceIP, guestInspectorPort)
	Start(t, Options{Kernel: kernel, Initrd: initrd, MemMB: 256, Append: app, GuestFwds: fwds, IPMI: true,
		Disks: []Disk{{Path: SparseDisk(t, 1<<30), Serial: "disk-a"}, {Path: SparseDisk(t, 2<<30), Serial: "disk-b"}}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var body []byte
	select {
	case body = <-got:
	case <-ctx.Done():
		t.Fatal("no inspection data")
	}
	var data struct {
		Inventory  hardware.InventoryData `json:"inventory"`
		PCIDevices []hardware.PCIDevice   `json:"pci_devices"`
		Error      *string                `json:"error"`
	}
	if err := json.Unmarshal(body, &data); err != nil {
		t.Fatal(err)
	}
	inv := data.Inventory
	if data.Error != nil {
		t.Errorf("inspection error: %s", *data.Error)
	}
	want := map[string]int64{"disk-a": 1 << 30, "disk-b": 2 << 30}
	for _, d := range inv.Disks {
		if d.Serial != nil {
			if size, ok := want[*d.Serial]; ok && size == d.Size && d.Tran != nil && *d.Tran == "virtio" {
				delete(want, *d.Serial)
			}
		}
	}
	if len(want) > 0 {
		b, _ := json.Marshal(inv.Disks)
		t.Errorf("disks %v not reported right: %s", want, b)
	}
	found := false
	for _, i := range inv.Interfaces {
		if i.MACAddress == DefaultMAC && i.IPv4Address != nil && *i.IPv4Address == "10.0.2.15" && i.Driver != nil && *i.Driver == "virtio_net" {
			found = true
		}
	}
	if !found {
		b, _ := json.Marshal(inv.Interfaces)
		t.Errorf("NIC %s with 10.0.2.15 (virtio_net) not in %s", DefaultMAC, b)
	}
	if inv.Memory.Total < 150<<20 || inv.Memory.Total > 256<<20 || inv.Memory.PhysicalMB == nil || *inv.Memory.PhysicalMB != 256 {
		t.Errorf("memory = total %d, physical_mb %v; the VM has 256 MiB", inv.Memory.Total, inv.Memory.PhysicalMB)
	}
	if inv.CPU.Count != 1 || inv.Boot.CurrentBootMode != "bios" {
		t.Errorf("cpu %+v, boot %+v", inv.CPU, inv.Boot)
	}
	// QEMU's BMC simulator answers over KCS but has no LAN channel
	// configured: IPA then reports 0.0.0.0, ::/0 and no MAC (null without
	// a BMC at all).
	if s := func(p *string) string {
		if p == nil {
			return "null"
		}
		return *p
	}; s(inv.BMCAddress) != "0.0.0.0" || s(inv.BMCV6Address) != "::/0" || inv.BMCMAC != nil {
		t.Errorf("bmc_address %s, bmc_v6address %s, bmc_mac %s; want 0.0.0.0, ::/0, null (a BMC without LAN settings)",
			s(inv.BMCAddress), s(inv.BMCV6Address), s(inv.BMCMAC))
	}
	virtio := 0
	for _, p := range data.PCIDevices {
		if p.VendorID == "1af4" {
			virtio++
		}
	}
	if virtio < 3 {
		t.Errorf("pci_devices: %d virtio devices, want NIC, rng and two disks", virtio)
	}
	if _, err := l.ironic.WaitAgent(ctx, l.node.UUID); err != nil {
		t.Fatal(err)
	}
	if lk := l.ironic.Lookups(); len(lk) == 0 || lk[0].Query.Get("node_uuid") != l.node.UUID {
		t.Errorf("lookup did not use the inspected node's UUID: %+v", lk)
	}
}

// TestEraseMetadata: clean step erase_devices_metadata leaves no partition
// table or file system signature on the disks, keeps a disk named in
// skip_block_devices as it was, and does not touch data between the
// signature areas.
func TestEraseMetadata(t *testing.T) {
	kernel, initrd := Images(t)
	for _, tool := range []string{"sgdisk", "wipefs", "mkfs.vfat"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	l := newLab(t, map[string]any{"skip_block_devices": []any{map[string]any{"serial": "keep"}}})
	l.ironic.UpdateNode(l.node.UUID, func(n *fakeironic.Node) { n.ProvisionState = "clean wait" })
	target, keep := SparseDisk(t, 512<<20), SparseDisk(t, 512<<20)
	marker := bytes.Repeat([]byte("middle data "), 1000)
	for _, d := range []string{target, keep} {
		run(t, "sgdisk", "-n", "1:2048:+100M", "-t", "1:EF00", "-n", "2:0:0", d)
		run(t, "mkfs.vfat", "-F", "16", "--offset", "2048", d, "102400")
		f, _ := os.OpenFile(d, os.O_WRONLY, 0)
		f.WriteAt(marker, 300<<20)
		f.Close()
	}
	if out := run(t, "wipefs", "-n", target); !strings.Contains(out, "gpt") {
		t.Fatalf("test disk has no GPT to erase: %s", out)
	}
	if out := run(t, "blkid", "-p", "--offset", "1048576", target); !strings.Contains(out, "vfat") {
		t.Fatalf("test disk has no file system to erase: %s", out)
	}
	before := FileSHA256(t, keep)
	vm := Start(t, Options{Kernel: kernel, Initrd: initrd, MemMB: 256, Append: l.append(), Advertise: true, GuestFwds: l.fwds,
		Disks: []Disk{{Path: target, Serial: "target"}, {Path: keep, Serial: "keep"}}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := l.conductor(ctx, t)
	defer c.Close()
	runStep(ctx, t, c, "clean", fakeironic.Step{Interface: "deploy", Step: "erase_devices_metadata"})
	vm.Kill()
	if out := run(t, "wipefs", "-n", target); strings.TrimSpace(out) != "" {
		t.Errorf("signatures left on the erased disk:\n%s", out)
	}
	// The file system in the first partition is gone too.
	if out, err := exec.Command("blkid", "-p", "--offset", "1048576", target).CombinedOutput(); err == nil {
		t.Errorf("a signature is left in the first partition: %s", out)
	}
	if !bytes.Equal(ReadAt(t, target, 300<<20, len(marker)), marker) {
		t.Error("metadata erase touched data in the middle of the disk")
	}
	if FileSHA256(t, keep) != before {
		t.Error("the disk in skip_block_devices changed")
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// TestEraseNVMe runs erase_devices as Ironic's automated cleaning does, with
// the driver_internal_info Ironic's defaults put there, on an emulated NVMe
// disk: goipa sends Format NVM itself (no nvme-cli in the ramdisk), the
// namespace reads back zeros, and a disk in skip_block_devices is left
// byte for byte.
func TestEraseNVMe(t *testing.T) {
	kernel, initrd := Images(t)
	l := newLab(t, map[string]any{"skip_block_devices": []any{map[string]any{"serial": "keep"}}})
	l.ironic.UpdateNode(l.node.UUID, func(n *fakeironic.Node) {
		n.ProvisionState = "clean wait"
		// deploy_utils.agent_add_clean_params with Ironic's defaults.
		n.DriverInternalInfo = map[string]any{"agent_erase_devices_iterations": 1, "agent_erase_devices_zeroize": true,
			"agent_continue_if_secure_erase_failed": false, "agent_continue_if_ata_erase_failed": false,
			"agent_enable_nvme_secure_erase": true, "agent_enable_ata_secure_erase": true,
			"disk_erasure_concurrency": 4, "agent_erase_skip_read_only": false}
	})
	target, keep := SparseDisk(t, 256<<20), SparseDisk(t, 64<<20)
	data := bytes.Repeat([]byte("tenant data "), 1<<16)
	// Data at the start of both disks and in the middle of the target.
	for _, w := range []struct {
		disk string
		off  int64
	}{{target, 0}, {target, 100 << 20}, {keep, 0}} {
		f, err := os.OpenFile(w.disk, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteAt(data, w.off)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	before := FileSHA256(t, keep)
	vm := Start(t, Options{Kernel: kernel, Initrd: initrd, MemMB: 256, Append: l.append(), Advertise: true, GuestFwds: l.fwds,
		Disks: []Disk{{Path: target, Serial: "nvme-target", NVMe: true}, {Path: keep, Serial: "keep"}}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := l.conductor(ctx, t)
	defer c.Close()
	runStep(ctx, t, c, "clean", fakeironic.Step{Interface: "deploy", Step: "erase_devices"})
	vm.Kill()
	if !bytes.Equal(ReadAt(t, target, 0, 256<<20), make([]byte, 256<<20)) {
		t.Error("the NVMe namespace does not read back zeros after erase_devices")
	}
	if FileSHA256(t, keep) != before {
		t.Error("the disk in skip_block_devices changed")
	}
	if c := vm.Console(); !strings.Contains(c, "NVMe format") || !strings.Contains(c, "nvme-format") {
		t.Errorf("the console shows no NVMe format:\n%s", c)
	}
}
