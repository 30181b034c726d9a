package qemu

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/hardware"
	"github.com/goipa/goipa/tstest/fakeironic"
)

// metal3Line is Metal3's inspection kernel line: metal3-io/ironic-image's
// ironic-config/inspector.ipxe.j2 rendered with its defaults
// (IRONIC_ENABLE_VLAN_INTERFACES=all, ipa-inspection-dhcp-all-interfaces=1,
// ipa-collect-lldp=1; scripts/runhttpd's INSPECTOR_EXTRA_ARGS with
// IRONIC_FAST_TRACK=true) and IRONIC_IPA_COLLECTORS at
// default,extra-hardware,logs, the image's default until 2023 and what
// OpenShift's installer still passes. iPXE expands ${mac}; the base URL is
// the test's Ironic.
const metal3Line = "ipa-insecure=1 ipa-inspection-collectors=default,extra-hardware,logs " +
	"systemd.journald.forward_to_console=yes BOOTIF=%s ipa-debug=1 ipa-enable-vlan-interfaces=all " +
	"ipa-inspection-dhcp-all-interfaces=1 ipa-collect-lldp=1  " +
	"ipa-inspection-callback-url=%[2]s/v1/continue_inspection ipa-api-url=%[2]s " +
	"initrd=ironic-python-agent.initramfs"

// TestMetal3Inspection boots the ramdisk with Metal3's exact line, two NICs
// and an NVMe disk, and checks the body posted to /v1/continue_inspection
// as Ironic's hooks read it: no error (ramdisk-error), both NICs with their
// addresses and the PXE one among them (validate-interfaces, ports), the
// architecture (architecture), the whole inventory Metal3 maps (disks with
// the NVMe one, CPU, memory, system vendor, boot), the extra-hardware facts
// (extra-hardware) and the logs; then the agent looks itself up by both
// MACs and heartbeats. The second NIC is on a QEMU user network of its own,
// or wired to a Switch that announces VLAN 100 over LLDP and serves DHCP
// untagged and on VLAN 100: ipa-enable-vlan-interfaces=all then brings up
// the VLAN link, the ramdisk leases it an address, inspection waits for it
// and the inventory lists it.
func TestMetal3Inspection(t *testing.T) {
	kernel, _ := Images(t)
	initrd := VMInitrd(t)
	const secondMAC = "52:54:00:12:34:57"
	sw, err := NewSwitch(map[int]SwitchNet{
		0:   {Server: net.IPv4(192, 0, 2, 1), Lease: net.IPv4(192, 0, 2, 15)},
		100: {Server: net.IPv4(198, 51, 100, 1), Lease: net.IPv4(198, 51, 100, 15)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	tests := []struct {
		name   string
		nic    NIC
		addrs  map[string]string // interface name suffix or MAC → IPv4
		vlanIP string            // the VLAN link's address; "" no VLAN
	}{
		{name: "user networks", nic: NIC{MAC: secondMAC}, addrs: map[string]string{DefaultMAC: "10.0.2.15", secondMAC: "10.0.3.15"}},
		{name: "VLAN from LLDP", nic: NIC{MAC: secondMAC, UDP: sw.Addr()},
			addrs: map[string]string{DefaultMAC: "10.0.2.15", secondMAC: "192.0.2.15"}, vlanIP: "198.51.100.15"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ironic := fakeironic.NewTest(t, fakeironic.Options{})
			cfg := fakeironic.DefaultConfig()
			cfg.HeartbeatTimeout = 30
			ironic.SetConfig(cfg)
			node, err := ironic.AddNode(fakeironic.Node{Name: t.Name(), MACs: []string{DefaultMAC, secondMAC},
				ProvisionState: fakeironic.StateInspectWait})
			if err != nil {
				t.Fatal(err)
			}
			body := make(chan []byte, 1)
			api := inspectionAPI(t, ironic.URL(), node.UUID, body)

			base := fmt.Sprintf("http://%s:%d", GuestServiceIP, guestIronicPort)
			start := time.Now()
			Start(t, Options{Kernel: kernel, Initrd: initrd, MemMB: 256, Append: fmt.Sprintf(metal3Line, DefaultMAC, base),
				GuestFwds: []Fwd{{GuestPort: guestIronicPort, HostAddr: api}},
				NICs:      []NIC{tt.nic},
				Disks:     []Disk{{Path: SparseDisk(t, 8<<30), Serial: "nvme-a", NVMe: true}}})
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			var raw []byte
			select {
			case raw = <-body:
			case <-ctx.Done():
				t.Fatal("no inspection data")
			}
			t.Logf("inspection data %d bytes after %v", len(raw), time.Since(start).Round(time.Second))
			inv := checkMetal3Body(t, raw)
			checkInterfaces(t, inv.Interfaces, tt.addrs)
			if tt.vlanIP != "" {
				checkVLAN(t, inv.Interfaces, secondMAC, tt.vlanIP)
			}

			if _, err := ironic.WaitAgent(ctx, node.UUID); err != nil {
				t.Fatal(err)
			}
			lk := ironic.Lookups()
			if len(lk) == 0 || lk[0].Query.Get("node_uuid") != node.UUID {
				t.Fatalf("lookup did not use the inspected node's UUID: %+v", lk)
			}
			if addrs := strings.Split(lk[0].Query.Get("addresses"), ","); !slices.Contains(addrs, DefaultMAC) || !slices.Contains(addrs, secondMAC) {
				t.Errorf("lookup addresses %q, want both NICs", addrs)
			}
			t.Logf("heartbeat after %v", time.Since(start).Round(time.Second))
		})
	}
}

// checkMetal3Body checks the posted body but the interfaces, and returns
// its inventory.
func checkMetal3Body(t *testing.T, raw []byte) hardware.InventoryData {
	t.Helper()
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		t.Fatal(err)
	}
	if e, ok := keys["error"]; !ok || string(e) != "null" {
		t.Errorf("error = %s, want null (Ironic's ramdisk-error hook fails the inspection otherwise)", e)
	}
	var data struct {
		Inventory     hardware.InventoryData `json:"inventory"`
		BootInterface string                 `json:"boot_interface"`
		RootDisk      *hardware.BlockDevice  `json:"root_disk"`
		Facts         [][]any                `json:"data"`
		Logs          string                 `json:"logs"`
		Configuration struct {
			Collectors []string `json:"collectors"`
		} `json:"configuration"`
	}
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	checkMetal3Inventory(t, data.Inventory)
	if data.BootInterface != DefaultMAC || data.RootDisk == nil || !strings.HasPrefix(data.RootDisk.Name, "/dev/nvme") {
		t.Errorf("boot_interface %q, root_disk %+v; want %s and the NVMe disk", data.BootInterface, data.RootDisk, DefaultMAC)
	}
	if want := []string{"default", "extra-hardware", "logs"}; !slices.Equal(data.Configuration.Collectors, want) {
		t.Errorf("configuration.collectors = %q, want %q", data.Configuration.Collectors, want)
	}
	checkFacts(t, data.Facts)
	checkLogs(t, data.Logs)
	return data.Inventory
}

// checkInterfaces checks each MAC's physical NIC has its DHCP address.
func checkInterfaces(t *testing.T, ifs []hardware.Interface, addrs map[string]string) {
	t.Helper()
	want := maps.Clone(addrs)
	for _, i := range ifs {
		if ip, ok := want[i.MACAddress]; ok && !hardware.IsVLANName(i.Name) && i.IPv4Address != nil && *i.IPv4Address == ip && i.Driver != nil {
			delete(want, i.MACAddress)
		}
	}
	if len(want) > 0 {
		b, _ := json.Marshal(ifs)
		t.Errorf("NICs %v not in the interfaces with their DHCP addresses: %s", want, b)
	}
}

// checkVLAN checks the inventory lists the parent's LLDP (ipa-collect-lldp)
// and the VLAN link IPA names parent.100, with the parent's MAC and its
// own lease.
func checkVLAN(t *testing.T, ifs []hardware.Interface, parentMAC, ip string) {
	t.Helper()
	var parent string
	for _, i := range ifs {
		if i.MACAddress == parentMAC && !hardware.IsVLANName(i.Name) {
			parent = i.Name
			if !slices.Equal(hardware.LLDPVLANs(i.LLDP), []int{100}) {
				t.Errorf("%s: lldp %v, want the switch's TLVs announcing VLAN 100", i.Name, i.LLDP)
			}
		}
	}
	for _, i := range ifs {
		if i.Name == parent+".100" {
			if i.MACAddress != parentMAC || i.IPv4Address == nil || *i.IPv4Address != ip {
				b, _ := json.Marshal(i)
				t.Errorf("VLAN link %s, want MAC %s and %s", b, parentMAC, ip)
			}
			return
		}
	}
	b, _ := json.Marshal(ifs)
	t.Errorf("no VLAN link %s.100 in %s", parent, b)
}

// inspectionAPI serves Ironic's /v1/continue_inspection (the body goes to
// got; the answer is the node's UUID, as Ironic's) and hands everything
// else to the fake Ironic at ironicURL. It returns its address.
func inspectionAPI(t *testing.T, ironicURL, uuid string, got chan<- []byte) string {
	t.Helper()
	u, err := url.Parse(ironicURL)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", httputil.NewSingleHostReverseProxy(u))
	mux.HandleFunc("POST /v1/continue_inspection", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case got <- b:
		default:
		}
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"uuid":%q}`, uuid)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// checkMetal3Inventory checks what Ironic's hooks and Metal3's
// baremetal-operator read from the inventory.
func checkMetal3Inventory(t *testing.T, inv hardware.InventoryData) {
	t.Helper()
	nvme := false
	for _, d := range inv.Disks {
		if strings.HasPrefix(d.Name, "/dev/nvme") && d.Size == 8<<30 && d.Serial != nil && *d.Serial == "nvme-a" && d.Tran != nil && *d.Tran == "nvme" {
			nvme = true
		}
	}
	if !nvme {
		b, _ := json.Marshal(inv.Disks)
		t.Errorf("no 8 GiB NVMe disk nvme-a in %s", b)
	}
	if inv.CPU.Architecture != "x86_64" || inv.CPU.Count != 1 || inv.CPU.ModelName == "" {
		t.Errorf("cpu = %+v", inv.CPU)
	}
	if inv.Memory.Total == 0 || inv.Memory.PhysicalMB == nil || *inv.Memory.PhysicalMB != 256 {
		t.Errorf("memory = %+v", inv.Memory)
	}
	if inv.SystemVendor.Manufacturer != "QEMU" || inv.SystemVendor.ProductName == "" {
		t.Errorf("system_vendor = %+v", inv.SystemVendor)
	}
	if inv.Boot.CurrentBootMode != "bios" || inv.Boot.PXEInterface == nil || *inv.Boot.PXEInterface != DefaultMAC {
		t.Errorf("boot = %+v", inv.Boot)
	}
	if inv.Hostname == "" {
		t.Error("no hostname")
	}
}

// checkFacts checks extra-hardware's data: python-hardware's
// [category, item, key, value] facts, which Ironic's extra-hardware hook
// turns into the node's extra.
func checkFacts(t *testing.T, facts [][]any) {
	t.Helper()
	cats := map[string]bool{}
	for _, f := range facts {
		if len(f) != 4 {
			t.Errorf("fact %v is not [category, item, key, value]", f)
			return
		}
		if c, ok := f[0].(string); ok {
			cats[c] = true
		}
	}
	for _, c := range []string{"system", "cpu", "memory", "disk", "network"} {
		if !cats[c] {
			t.Errorf("no %s facts among %d", c, len(facts))
		}
	}
}

// checkLogs checks the logs collector's base64 tar.gz holds the agent's log.
func checkLogs(t *testing.T, logs string) {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(logs)
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("logs: %v", err)
		}
		names = append(names, h.Name)
	}
	if len(names) == 0 {
		t.Error("logs: empty archive")
	}
}
