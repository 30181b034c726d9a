package ramdisk

import (
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// ironicNetworkData is network_data as Metal3 and Nova write it: two NICs
// in an 802.3ad bond with a VLAN on it, static IPv4 and IPv6 with default
// routes, a DHCP network on a third NIC, DNS in a network and a service.
const ironicNetworkData = `{
  "links": [
    {"id": "enp1s0", "type": "phy", "ethernet_mac_address": "52:54:00:00:00:01", "mtu": 9000},
    {"id": "enp2s0", "type": "ethernet", "ethernet_mac_address": "52:54:00:00:00:02", "mtu": null},
    {"id": "bond0", "type": "bond", "bond_links": ["enp1s0", "enp2s0"], "bond_mode": "802.3ad",
     "bond_miimon": 200, "bond_xmit_hash_policy": "layer3+4", "ethernet_mac_address": "52:54:00:00:00:01"},
    {"id": "vlan-provisioning", "type": "vlan", "vlan_link": "bond0", "vlan_id": 101,
     "vlan_mac_address": "52:54:00:00:01:01"},
    {"id": "enp3s0", "type": "phy", "ethernet_mac_address": "52:54:00:00:00:03"}
  ],
  "networks": [
    {"id": "provisioning", "type": "ipv4", "link": "vlan-provisioning", "ip_address": "192.0.2.10",
     "netmask": "255.255.255.0", "network_id": "",
     "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "192.0.2.1"}],
     "dns_nameservers": ["192.0.2.53"]},
    {"id": "provisioning6", "type": "ipv6", "link": "bond0", "ip_address": "2001:db8::10",
     "netmask": "ffff:ffff:ffff:ffff::",
     "routes": [{"network": "::", "netmask": "::", "gateway": "2001:db8::1"},
                {"network": "2001:db8:1::", "netmask": "48", "gateway": "fe80::1"}]},
    {"id": "other", "type": "ipv4_dhcp", "link": "enp3s0"},
    {"id": "slaac", "type": "ipv6_slaac", "link": "enp3s0"},
    {"id": "dhcp6", "type": "ipv6_dhcpv6-stateful", "link": "enp3s0"}
  ],
  "services": [{"type": "dns", "address": "2001:db8::53"}, {"type": "dns", "address": "192.0.2.53"},
               {"type": "ntp", "address": "192.0.2.123"}]
}`

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func TestPlanNetwork(t *testing.T) {
	nd, err := ParseNetworkData([]byte(ironicNetworkData))
	if err != nil {
		t.Fatal(err)
	}
	nics := []nic{
		{name: "eth0", mac: mustMAC("52:54:00:00:00:01")},
		{name: "eth1", mac: mustMAC("52:54:00:00:00:02")},
		{name: "eth2", mac: mustMAC("52:54:00:00:00:03")},
		{name: "eth3", mac: mustMAC("52:54:00:00:00:04")}, // not described
	}
	got := planNetwork(nd, nics)
	want := netPlan{
		links: []planLink{
			{kind: kindNIC, name: "eth0", mtu: 9000},
			{kind: kindNIC, name: "eth1"},
			{kind: kindNIC, name: "eth2"},
			{kind: kindBond, name: "bond0", mac: mustMAC("52:54:00:00:00:01"), members: []string{"eth0", "eth1"},
				bondMode: "802.3ad", miimon: 200, hashPolicy: "layer3+4"},
			{kind: kindVLAN, name: "bond0.101", mac: mustMAC("52:54:00:00:01:01"), parent: "bond0", vlanID: 101},
		},
		addrs: []planAddr{
			{link: "bond0.101", prefix: netip.MustParsePrefix("192.0.2.10/24")},
			{link: "bond0", prefix: netip.MustParsePrefix("2001:db8::10/64")},
		},
		routes: []planRoute{
			{link: "bond0.101", dst: netip.MustParsePrefix("0.0.0.0/0"), gw: netip.MustParseAddr("192.0.2.1")},
			{link: "bond0", dst: netip.MustParsePrefix("::/0"), gw: netip.MustParseAddr("2001:db8::1")},
			{link: "bond0", dst: netip.MustParsePrefix("2001:db8:1::/48"), gw: netip.MustParseAddr("fe80::1")},
		},
		dhcp4: []string{"eth2"},
		ra:    []string{"eth2"},
		dns:   []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("2001:db8::53")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plan =\n%+v\nwant\n%+v", got, want)
	}
}

func TestPlanNetworkMissingNIC(t *testing.T) {
	nd, err := ParseNetworkData([]byte(`{"links": [
	  {"id": "a", "type": "phy", "ethernet_mac_address": "52:54:00:00:00:01"},
	  {"id": "b", "type": "phy", "ethernet_mac_address": "52:54:00:00:00:0b"},
	  {"id": "a-very-long-bond-name", "type": "bond", "bond_links": ["a", "b"], "bond_mode": "active-backup"},
	  {"id": "gone", "type": "bond", "bond_links": ["b"], "bond_mode": "balance-alb"},
	  {"id": "v", "type": "vlan", "vlan_link": "a-very-long-bond-name", "vlan_id": 4094},
	  {"id": "w", "type": "vlan", "vlan_link": "gone", "vlan_id": 7}],
	 "networks": [{"id": "n", "type": "ipv4", "link": "b", "ip_address": "10.0.0.2/8"},
	              {"id": "m", "type": "ipv4_dhcp", "link": "v"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	got := planNetwork(nd, []nic{{name: "eth0", mac: mustMAC("52:54:00:00:00:01")}})
	wantLinks := []planLink{
		{kind: kindNIC, name: "eth0"},
		{kind: kindBond, name: "bond0", members: []string{"eth0"}, bondMode: "active-backup"},
		{kind: kindVLAN, name: "bond0.4094", parent: "bond0", vlanID: 4094},
	}
	if !reflect.DeepEqual(got.links, wantLinks) {
		t.Errorf("links = %+v, want %+v", got.links, wantLinks)
	}
	if !reflect.DeepEqual(got.dhcp4, []string{"bond0.4094"}) || len(got.addrs) != 0 {
		t.Errorf("dhcp4 %v addrs %v", got.dhcp4, got.addrs)
	}
	// b; a-very-long-bond-name's member b; gone's member b; w on gone; network n on b.
	if len(got.skipped) != 5 {
		t.Fatalf("skipped = %v, want 5", got.skipped)
	}
	for _, err := range got.skipped {
		if !errors.Is(err, ErrNoSuchNIC) {
			t.Errorf("skipped %v does not wrap ErrNoSuchNIC", err)
		}
	}
}

func TestParseNetworkDataErrors(t *testing.T) {
	phy := `{"id": "p", "type": "phy", "ethernet_mac_address": "52:54:00:00:00:01"}`
	tests := []struct{ name, json, err string }{
		{"not JSON", `{"links": [`, "unexpected end"},
		{"repeated id", `{"links": [` + phy + `,` + phy + `]}`, `repeated id "p"`},
		{"bad MAC", `{"links": [{"id": "p", "type": "phy", "ethernet_mac_address": "52:54"}]}`, "ethernet_mac_address"},
		{"VLAN id", `{"links": [` + phy + `, {"id": "v", "type": "vlan", "vlan_link": "p", "vlan_id": 4095}]}`, "vlan_id 4095"},
		{"VLAN on nothing", `{"links": [{"id": "v", "type": "vlan", "vlan_link": "x", "vlan_id": 5}]}`, `vlan_link "x"`},
		{"bond mode", `{"links": [` + phy + `, {"id": "b", "type": "bond", "bond_links": ["p"], "bond_mode": "fast"}]}`, `bond_mode "fast"`},
		{"bond hash", `{"links": [` + phy + `, {"id": "b", "type": "bond", "bond_links": ["p"], "bond_mode": "802.3ad", "bond_xmit_hash_policy": "l9"}]}`, `"l9" unknown`},
		{"bond alone", `{"links": [{"id": "b", "type": "bond", "bond_links": [], "bond_mode": "802.3ad"}]}`, "without bond_links"},
		{"network on nothing", `{"links": [` + phy + `], "networks": [{"id": "n", "type": "ipv4_dhcp", "link": "q"}]}`, `link "q" unknown`},
		{"network type", `{"links": [` + phy + `], "networks": [{"id": "n", "type": "ipx", "link": "p"}]}`, `type "ipx"`},
		{"no address", `{"links": [` + phy + `], "networks": [{"id": "n", "type": "ipv4", "link": "p"}]}`, "ip_address"},
		{"family", `{"links": [` + phy + `], "networks": [{"id": "n", "type": "ipv4", "link": "p", "ip_address": "2001:db8::1/64"}]}`, "is not ipv4"},
		{"mask", `{"links": [` + phy + `], "networks": [{"id": "n", "type": "ipv4", "link": "p", "ip_address": "10.0.0.1", "netmask": "255.0.255.0"}]}`, "not contiguous"},
		{"route family", `{"links": [` + phy + `], "networks": [{"id": "n", "type": "ipv4", "link": "p", "ip_address": "10.0.0.1/8",
			"routes": [{"network": "0.0.0.0", "netmask": "0", "gateway": "fe80::1"}]}]}`, "mixes address families"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseNetworkData([]byte(tt.json))
			if !errors.Is(err, ErrBadNetworkData) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("err = %v, want ErrBadNetworkData with %q", err, tt.err)
			}
		})
	}
}
