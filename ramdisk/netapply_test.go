package ramdisk

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// inNetns moves the test's goroutine for good onto a thread in a network
// namespace of its own, which goes away with the thread when the test
// ends: the host's interfaces are never touched.
func inNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	// Never unlocked: the thread exits with the test's goroutine.
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		t.Skipf("no network namespace: %v", err)
	}
}

// vethNIC adds a veth pair whose first end plays a NIC with the given MAC;
// the peer is up, so the NIC has carrier.
func vethNIC(name, mac string) error {
	hw, _ := net.ParseMAC(mac)
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name, HardwareAddr: hw}, PeerName: name + "p"}
	if err := netlink.LinkAdd(v); err != nil {
		return err
	}
	peer, err := netlink.LinkByName(name + "p")
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(peer)
}

// kernelHas reports whether the kernel can create links of kind (bond,
// vlan): a kernel without bonding or 8021q answers EOPNOTSUPP.
func kernelHas(t *testing.T, l netlink.Link) bool {
	err := netlink.LinkAdd(l)
	if errors.Is(err, unix.EOPNOTSUPP) {
		return false
	}
	if err != nil {
		t.Fatalf("probe %s: %v", l.Type(), err)
	}
	if err := netlink.LinkDel(l); err != nil {
		t.Fatal(err)
	}
	return true
}

// TestApplyPlanNetns applies network_data in a namespace of the test's own:
// veth NICs matched by MAC, an MTU, static IPv4 and IPv6 with default
// routes, and where the kernel has them a VLAN and an active-backup bond.
func TestApplyPlanNetns(t *testing.T) {
	inNetns(t)
	for name, mac := range map[string]string{"nic0": "52:54:00:aa:00:01", "nic1": "52:54:00:aa:00:02", "nic2": "52:54:00:aa:00:03"} {
		if err := vethNIC(name, mac); err != nil {
			t.Fatal(err)
		}
	}
	lo, _ := netlink.LinkByName("nic0")
	bond := kernelHas(t, netlink.NewLinkBond(netlink.LinkAttrs{Name: "probebond"}))
	vlan := kernelHas(t, &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: "probevlan", ParentIndex: lo.Attrs().Index}, VlanId: 9})

	links := `{"id": "p0", "type": "phy", "ethernet_mac_address": "52:54:00:aa:00:01"},
		          {"id": "p1", "type": "phy", "ethernet_mac_address": "52:54:00:aa:00:02", "mtu": 1400},
		          {"id": "p2", "type": "phy", "ethernet_mac_address": "52:54:00:aa:00:03"}`
	var networks string
	if vlan {
		links += `, {"id": "v42", "type": "vlan", "vlan_link": "p0", "vlan_id": 42, "vlan_mac_address": "52:54:00:aa:42:01"}`
		networks += `, {"id": "n42", "type": "ipv4", "link": "v42", "ip_address": "10.42.0.5", "netmask": "255.255.255.0"}`
	}
	if bond {
		links += `, {"id": "bond0", "type": "bond", "bond_links": ["p1", "p2"], "bond_mode": "active-backup",
			             "ethernet_mac_address": "52:54:00:aa:00:02"}`
		networks += `, {"id": "nb", "type": "ipv4", "link": "bond0", "ip_address": "10.77.0.5/16"}`
	}
	nd, err := ParseNetworkData([]byte(`{"links": [` + links + `], "networks": [
		  {"id": "n4", "type": "ipv4", "link": "p0", "ip_address": "10.9.0.5", "netmask": "255.255.255.0",
		   "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.9.0.1"}]},
		  {"id": "n6", "type": "ipv6", "link": "p0", "ip_address": "2001:db8:9::5", "netmask": "64",
		   "routes": [{"network": "::", "netmask": "::", "gateway": "2001:db8:9::1"}]}` + networks + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	var nics []nic
	for _, name := range []string{"nic0", "nic1", "nic2"} {
		l, err := netlink.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		nics = append(nics, nic{name: name, mac: l.Attrs().HardwareAddr})
	}
	p := planNetwork(nd, nics)
	if err := applyPlan(slog.New(slog.NewTextHandler(io.Discard, nil)), p); err != nil {
		t.Fatal(err)
	}

	hasAddr(t, "nic0", "10.9.0.5/24", "2001:db8:9::5/64")
	hasDefault(t, "nic0", unix.AF_INET, "10.9.0.1")
	hasDefault(t, "nic0", unix.AF_INET6, "2001:db8:9::1")
	if l, _ := netlink.LinkByName("nic1"); l == nil || l.Attrs().MTU != 1400 {
		t.Errorf("nic1: MTU not 1400: %+v", l)
	}
	if vlan {
		l, err := netlink.LinkByName("nic0.42")
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := l.(*netlink.Vlan); !ok || v.VlanId != 42 || v.ParentIndex != lo.Attrs().Index || v.HardwareAddr.String() != "52:54:00:aa:42:01" {
			t.Errorf("nic0.42 = %+v", l)
		}
		hasAddr(t, "nic0.42", "10.42.0.5/24")
	} else {
		t.Log("kernel without 8021q: VLAN not tried (the QEMU test covers it)")
	}
	if bond {
		l, err := netlink.LinkByName("bond0")
		if err != nil {
			t.Fatal(err)
		}
		b, ok := l.(*netlink.Bond)
		if !ok || b.Mode != netlink.BOND_MODE_ACTIVE_BACKUP || b.Miimon != defaultMIIMon || b.HardwareAddr.String() != "52:54:00:aa:00:02" {
			t.Errorf("bond0 = %+v", l)
		}
		for _, m := range []string{"nic1", "nic2"} {
			if s, _ := netlink.LinkByName(m); s == nil || s.Attrs().MasterIndex != b.Index {
				t.Errorf("%s not enslaved to bond0", m)
			}
		}
		hasAddr(t, "bond0", "10.77.0.5/16")
	} else {
		t.Log("kernel without bonding: bond not tried (the QEMU test covers it)")
	}
}

func hasAddr(t *testing.T, name string, want ...string) {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range addrs {
		got = append(got, a.IPNet.String())
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%s: addresses %v lack %s", name, got, w)
		}
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("%s is down", name)
	}
}

func hasDefault(t *testing.T, name string, family int, gw string) {
	t.Helper()
	l, _ := netlink.LinkByName(name)
	routes, err := netlink.RouteList(l, family)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.IP.IsUnspecified()) && r.Gw.String() == gw {
			return
		}
	}
	t.Errorf("%s: no default route via %s in %v", name, gw, routes)
}
