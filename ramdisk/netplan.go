package ramdisk

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// ErrNoSuchNIC reports a network_data link whose MAC no NIC has.
var ErrNoSuchNIC = errors.New("no NIC with this MAC")

// netPlan is a network_data.json resolved against the NICs present: what
// to create and configure, in order, by interface name.
type netPlan struct {
	links  []planLink // NICs, then bonds, then VLANs: each after what it is on
	addrs  []planAddr
	routes []planRoute
	dhcp4  []string // interfaces to run DHCPv4 on
	// ra are the interfaces whose IPv6 comes from router advertisements
	// (SLAAC, which the kernel does on a link that is up). DHCPv6 is not
	// run: ipv6_dhcp networks get SLAAC only.
	ra  []string
	dns []netip.Addr
	// skipped are the links and networks left out, with the reason
	// (ErrNoSuchNIC).
	skipped []error
}

type linkKind int

const (
	kindNIC linkKind = iota
	kindBond
	kindVLAN
)

type planLink struct {
	kind linkKind
	name string
	mac  net.HardwareAddr // bond or VLAN: the address to give it; nil: the kernel's
	mtu  int              // 0: leave as is

	parent string // VLAN: the interface it is on
	vlanID int

	members    []string // bond: member interfaces
	bondMode   string
	miimon     int
	hashPolicy string
}

type planAddr struct {
	link   string
	prefix netip.Prefix
}

type planRoute struct {
	link string
	dst  netip.Prefix
	gw   netip.Addr
}

// nic is a NIC present: its interface name and MAC.
type nic struct {
	name string
	mac  net.HardwareAddr
}

// maxIfname is the kernel's IFNAMSIZ less the terminating NUL.
const maxIfname = 15

// planNetwork resolves nd (checked by ParseNetworkData) against nics:
// NICs by MAC; bonds take their link id as name when it is a valid
// interface name (bond0), else bondN; VLANs are PARENT.ID, or vlanID when
// that is too long. Links on a missing NIC, and their networks, are left
// out and listed in skipped.
func planNetwork(nd *NetworkData, nics []nic) netPlan {
	var p netPlan
	names := map[string]string{} // link id → interface name
	byMAC := func(s string) string {
		mac, _ := net.ParseMAC(s)
		for _, n := range nics {
			if slices.Equal(n.mac, mac) {
				return n.name
			}
		}
		return ""
	}
	for _, l := range nd.Links {
		if l.Type == ndBond || l.Type == ndVLAN {
			continue
		}
		name := byMAC(l.MAC)
		if name == "" {
			p.skipped = append(p.skipped, fmt.Errorf("link %s: %w: %s", l.ID, ErrNoSuchNIC, l.MAC))
			continue
		}
		names[l.ID] = name
		p.links = append(p.links, planLink{kind: kindNIC, name: name, mtu: l.MTU})
	}
	bonds := 0
	for _, l := range nd.Links {
		if l.Type != ndBond {
			continue
		}
		var members []string
		for _, m := range l.BondLinks {
			if names[m] == "" {
				p.skipped = append(p.skipped, fmt.Errorf("bond %s: member %s: %w", l.ID, m, ErrNoSuchNIC))
				continue
			}
			members = append(members, names[m])
		}
		if len(members) == 0 {
			continue
		}
		name := l.ID
		if !validIfname(name) {
			name = fmt.Sprintf("bond%d", bonds)
		}
		bonds++
		mac, _ := net.ParseMAC(l.MAC)
		names[l.ID] = name
		p.links = append(p.links, planLink{kind: kindBond, name: name, mac: mac, mtu: l.MTU, members: members,
			bondMode: l.BondMode, miimon: l.BondMIIMon, hashPolicy: l.BondXmitHashPolicy})
	}
	for _, l := range nd.Links {
		if l.Type != ndVLAN {
			continue
		}
		parent := names[l.VLANLink]
		if parent == "" {
			p.skipped = append(p.skipped, fmt.Errorf("vlan %s: on %s: %w", l.ID, l.VLANLink, ErrNoSuchNIC))
			continue
		}
		name := fmt.Sprintf("%s.%d", parent, l.VLANID)
		if len(name) > maxIfname {
			name = fmt.Sprintf("vlan%d", l.VLANID)
		}
		mac, _ := net.ParseMAC(l.VLANMAC)
		names[l.ID] = name
		p.links = append(p.links, planLink{kind: kindVLAN, name: name, mac: mac, mtu: l.MTU, parent: parent, vlanID: l.VLANID})
	}

	for _, n := range nd.Networks {
		name := names[n.Link]
		if name == "" {
			p.skipped = append(p.skipped, fmt.Errorf("network %s: on link %s: %w", n.ID, n.Link, ErrNoSuchNIC))
			continue
		}
		switch n.Type {
		case ndIPv4, ndIPv6:
			addr, _ := ndAddress(n)
			p.addrs = append(p.addrs, planAddr{link: name, prefix: addr})
			for _, r := range n.Routes {
				dst, gw, _ := ndRoute(r)
				p.routes = append(p.routes, planRoute{link: name, dst: dst, gw: gw})
			}
		case ndIPv4DHCP:
			p.dhcp4 = appendNew(p.dhcp4, name)
		default: // the IPv6 kinds checkNetwork accepts
			p.ra = appendNew(p.ra, name)
		}
		for _, s := range n.DNSNameservers {
			p.dns = appendDNS(p.dns, s)
		}
	}
	for _, s := range nd.Services {
		if s.Type == "dns" {
			p.dns = appendDNS(p.dns, s.Address)
		}
	}
	return p
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// appendDNS adds a name server's address once; a name that is no address
// is left out (resolv.conf takes addresses only).
func appendDNS(list []netip.Addr, s string) []netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil || slices.Contains(list, a) {
		return list
	}
	return append(list, a)
}

// validIfname: what the kernel's dev_valid_name accepts.
func validIfname(s string) bool {
	return s != "" && len(s) <= maxIfname && s != "." && s != ".." && !strings.ContainsAny(s, "/: \t\n")
}

// ndAddress is a static network's address with its prefix.
func ndAddress(n NDNetwork) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(n.IPAddress)
	if err != nil {
		a, aerr := netip.ParseAddr(n.IPAddress)
		if aerr != nil {
			return netip.Prefix{}, fmt.Errorf("ip_address %q: %w", n.IPAddress, aerr)
		}
		bits, err := maskBits(n.Netmask, a)
		if err != nil {
			return netip.Prefix{}, err
		}
		p = netip.PrefixFrom(a, bits)
	}
	if (n.Type == ndIPv4) != p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("ip_address %s is not %s", p.Addr(), n.Type)
	}
	return p, nil
}

// ndRoute is a route's destination and gateway.
func ndRoute(r NDRoute) (netip.Prefix, netip.Addr, error) {
	gw, err := netip.ParseAddr(r.Gateway)
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("route gateway %q: %w", r.Gateway, err)
	}
	dst, err := netip.ParsePrefix(r.Network)
	if err != nil {
		a, aerr := netip.ParseAddr(r.Network)
		if aerr != nil {
			return netip.Prefix{}, netip.Addr{}, fmt.Errorf("route network %q: %w", r.Network, aerr)
		}
		bits, err := maskBits(r.Netmask, a)
		if err != nil {
			return netip.Prefix{}, netip.Addr{}, err
		}
		dst = netip.PrefixFrom(a, bits)
	}
	if dst.Addr().Is4() != gw.Is4() {
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("route %s via %s mixes address families", dst, gw)
	}
	return dst.Masked(), gw, nil
}

// maskBits reads a netmask for an address of a's family: dotted or
// colon-separated (contiguous ones), or a prefix length. An empty mask is
// a host route.
func maskBits(mask string, a netip.Addr) (int, error) {
	if mask == "" {
		return a.BitLen(), nil
	}
	if n, err := strconv.Atoi(mask); err == nil {
		if n < 0 || n > a.BitLen() {
			return 0, fmt.Errorf("netmask %q out of range", mask)
		}
		return n, nil
	}
	m, err := netip.ParseAddr(mask)
	if err != nil || m.BitLen() != a.BitLen() {
		return 0, fmt.Errorf("netmask %q is not an %d-bit mask", mask, a.BitLen())
	}
	ones, bits := net.IPMask(m.AsSlice()).Size()
	if bits == 0 {
		return 0, fmt.Errorf("netmask %q is not contiguous", mask)
	}
	return ones, nil
}
