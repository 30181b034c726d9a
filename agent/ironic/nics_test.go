package ironic

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeNIC is one interface in a fake sysfs tree.
type fakeNIC struct {
	name    string
	address string // content of the address file, "" for none
	pci     string // PCI function it belongs to; "" for a virtual interface
}

// fakeSysfs lays out NICs as the kernel does: the interface directory lives
// under devices/, class/net/<name> links to it, and a physical one has a
// device link to its parent.
func fakeSysfs(t *testing.T, nics ...fakeNIC) string {
	t.Helper()
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "class", "net"), 0o755))
	for _, n := range nics {
		var rel string
		if n.pci == "" {
			rel = filepath.Join("devices", "virtual", "net", n.name)
		} else {
			rel = filepath.Join("devices", "pci0000:00", n.pci, "net", n.name)
		}
		dir := filepath.Join(root, rel)
		must(os.MkdirAll(dir, 0o755))
		if n.address != "" {
			must(os.WriteFile(filepath.Join(dir, "address"), []byte(n.address+"\n"), 0o444))
		}
		if n.pci != "" {
			must(os.Symlink(filepath.Join("..", ".."), filepath.Join(dir, "device")))
		}
		must(os.Symlink(filepath.Join("..", "..", rel), filepath.Join(root, "class", "net", n.name)))
	}
	return root
}

func TestMACs(t *testing.T) {
	nics := []fakeNIC{
		{name: "lo", address: "00:00:00:00:00:00"},
		{name: "br0", address: "52:54:00:99:99:99"},     // virtual: ignored
		{name: "br0.100", address: "52:54:00:00:01:00"}, // a VLAN (with a MAC of its own): in the inventory, so looked up
		{name: "eno1", address: "3C:EC:EF:12:34:56", pci: "0000:00:19.0"},
		{name: "enp2s0", address: "52:54:00:00:00:02", pci: "0000:02:00.0"},
		{name: "bond-slave", address: "52:54:00:00:00:02", pci: "0000:02:00.1"}, // bonded: took its peer's MAC
		{name: "ens3", address: "fa:16:3e:aa:bb:cc", pci: "0000:00:03.0"},       // OpenStack-style, dropped
		{name: "noaddr", pci: "0000:00:04.0"},
		{name: "garbage", address: "not-a-mac", pci: "0000:00:05.0"},
	}
	root := fakeSysfs(t, nics...)
	perm := map[string]net.HardwareAddr{
		"bond-slave": {0x52, 0x54, 0x00, 0x00, 0x00, 0x03}, // the factory MAC survives bonding
		"eno1":       {0, 0, 0, 0, 0, 0},                   // driver without a permanent address
	}
	var asked []string
	permFn := func(name string) (net.HardwareAddr, error) {
		asked = append(asked, name)
		if hw, ok := perm[name]; ok {
			return hw, nil
		}
		return nil, errors.New("operation not supported")
	}
	for _, tc := range []struct {
		name string
		perm PermAddrFunc
		want []string
	}{
		{"permanent preferred", permFn, []string{"3c:ec:ef:12:34:56", "52:54:00:00:00:02", "52:54:00:00:00:03", "52:54:00:00:01:00"}},
		{"current only, duplicates merged", nil, []string{"3c:ec:ef:12:34:56", "52:54:00:00:00:02", "52:54:00:00:01:00"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MACs(slog.New(slog.DiscardHandler), root, tc.perm)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("MACs = %q, want %q", got, tc.want)
			}
		})
	}
	slices.Sort(asked)
	if want := []string{"bond-slave", "br0.100", "eno1", "enp2s0", "ens3", "garbage", "noaddr"}; !slices.Equal(asked, want) {
		t.Errorf("permanent address asked for %q, want the physical NICs and VLANs %q", asked, want)
	}
}

func TestMACsPermanentFA(t *testing.T) {
	root := fakeSysfs(t, fakeNIC{name: "eth0", address: "52:54:00:00:00:01", pci: "0000:00:03.0"})
	got, err := MACs(slog.New(slog.DiscardHandler), root, func(string) (net.HardwareAddr, error) {
		return net.HardwareAddr{0xfa, 0x16, 0x3e, 0, 0, 1}, nil
	})
	if err != nil || len(got) != 0 {
		t.Errorf("MACs = %q, %v; want a permanent fa: address dropped", got, err)
	}
}

func TestMACsNoSysfs(t *testing.T) {
	if _, err := MACs(slog.New(slog.DiscardHandler), filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Error("MACs on a missing sysfs succeeded")
	}
}

// Read-only checks against this machine's real interfaces.
func TestPermAddrReal(t *testing.T) {
	hw, err := PermAddr("lo")
	if errors.Is(err, unix.EOPNOTSUPP) {
		t.Skipf("ETHTOOL_GPERMADDR unavailable here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !isZero(hw) {
		t.Errorf("lo permanent address %v, want zeros", hw)
	}
	if _, err := PermAddr("goipa-none0"); err == nil {
		t.Error("PermAddr on a missing interface succeeded")
	}
	if _, err := PermAddr(strings.Repeat("x", 20)); err == nil {
		t.Error("PermAddr accepted an over-long name")
	}
	macs, err := MACs(slog.New(slog.DiscardHandler), "/sys", PermAddr)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range macs {
		if _, err := net.ParseMAC(m); err != nil || m != strings.ToLower(m) || strings.HasPrefix(m, "fa:") {
			t.Errorf("real MAC %q not normalised", m)
		}
	}
}
