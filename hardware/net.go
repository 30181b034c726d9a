package hardware

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jaypipes/ghw"
	"github.com/vishvananda/netlink"
)

// Interfaces lists the NICs as IPA's list_network_interfaces: the physical
// ones, VLANs (name.N) and bonds. NICs whose MAC is locally administered
// with a leading "fa:" are left out, as IPA ignores them.
//
// ghw lists the NICs, says which are virtual and reads their speed. The
// MAC is read here: ghw reports one only for an address the hardware
// assigned, so bonds, VLANs and NICs with a random MAC would have none.
// So are the device's ids, PCI address and driver, from its device link
// as IPA reads them (ghw has a PCI address for PCI NICs only, where IPA
// reports virtio0 for a virtio NIC).
func Interfaces(r Root, lldp map[string][]TLV) ([]Interface, error) {
	info, err := ghw.Network(r.ghw())
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	dir := r.sys("class/net")
	if len(info.NICs) == 0 {
		// ghw lists nothing rather than fail without /sys/class/net.
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("listing interfaces: %w", err)
		}
	}
	out := []Interface{}
	for _, nic := range info.NICs {
		name := nic.Name
		nd := filepath.Join(dir, name)
		if nic.IsVirtual && !IsVLANName(name) && !exists(filepath.Join(nd, "bonding")) {
			continue
		}
		mac := macAddress(r, name, nd)
		if mac == "" || strings.HasPrefix(mac, "fa:") {
			continue
		}
		i := Interface{
			Name:       name,
			MACAddress: mac,
			HasCarrier: readBool(filepath.Join(nd, "carrier")),
			LLDP:       lldp[name],
			Vendor:     readOptional(filepath.Join(nd, "device/vendor")),
			Product:    readOptional(filepath.Join(nd, "device/device")),
			PCIAddress: linkBase(filepath.Join(nd, "device")),
			Driver:     linkBase(filepath.Join(nd, "device/driver")),
		}
		if speed, err := strconv.Atoi(nic.Speed); err == nil && speed > 0 {
			i.SpeedMbps = &speed
		}
		if r.live() {
			i.IPv4Address, i.IPv6Address = addresses(name)
		}
		out = append(out, i)
	}
	return out, nil
}

// macAddress prefers the permanent address, as IPA (ethtool) does: a bond
// member otherwise shows the bond's MAC.
func macAddress(r Root, name, dir string) string {
	if r.live() {
		if l, err := netlink.LinkByName(name); err == nil && len(l.Attrs().PermHWAddr) > 0 && !allZero(l.Attrs().PermHWAddr) {
			return l.Attrs().PermHWAddr.String()
		}
	}
	mac, _ := readString(filepath.Join(dir, "address"))
	return strings.ToLower(mac)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// addresses returns the interface's first IPv4 and IPv6 address; a
// link-local IPv6 address carries its zone, as psutil reports it.
func addresses(name string) (v4, v6 *string) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, nil
	}
	addrs, _ := ifi.Addrs()
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		switch {
		case ipn.IP.To4() != nil && v4 == nil:
			v4 = ptr(ipn.IP.String())
		case ipn.IP.To4() == nil && v6 == nil:
			s := ipn.IP.String()
			if ipn.IP.IsLinkLocalUnicast() {
				s += "%" + name
			}
			v6 = &s
		}
	}
	return v4, v6
}

func linkBase(path string) *string {
	t, err := os.Readlink(path)
	if err != nil {
		return nil
	}
	return ptr(filepath.Base(t))
}
