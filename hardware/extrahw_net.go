package hardware

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// networkFacts are lshw's facts about each physical NIC, under its name.
// lshw's vendor and product names (from pci.ids) and ethtool's offload and
// pause settings are left out.
func networkFacts(r Root) []HWFact {
	ifs, err := Interfaces(r, nil)
	if err != nil {
		r.log().Warn("extra-hardware: listing NICs", "error", err)
		return nil
	}
	h := &hwFacts{category: "network"}
	for _, i := range ifs {
		if i.PCIAddress == nil { // bonds and VLANs: lshw does not list them
			continue
		}
		n := i.Name
		h.add(n, "businfo", busInfo(*i.PCIAddress))
		if i.SpeedMbps != nil {
			h.add(n, "size", strconv.Itoa(*i.SpeedMbps*1000000))
		}
		if r.live() {
			if ipn := firstIPv4(n); ipn != nil {
				ones, _ := ipn.Mask.Size()
				h.add(n, "ipv4", ipn.IP.String())
				h.add(n, "ipv4-netmask", net.IP(ipn.Mask).String())
				h.add(n, "ipv4-cidr", strconv.Itoa(ones))
				h.add(n, "ipv4-network", ipn.IP.Mask(ipn.Mask).String())
			}
		}
		h.add(n, "link", map[bool]string{true: "yes", false: "no"}[i.HasCarrier])
		if i.Driver != nil {
			h.add(n, "driver", *i.Driver)
		}
		if d, ok := readString(r.sys("class/net", n, "duplex")); ok && d != "unknown" {
			h.add(n, "duplex", d)
		}
		if i.SpeedMbps != nil {
			h.add(n, "speed", lshwSpeed(*i.SpeedMbps))
		}
		h.add(n, "serial", strings.ToLower(i.MACAddress))
	}
	return h.facts
}

// busInfo is lshw's bus address of a NIC's device: pci@0000:18:00.0,
// virtio@0.
func busInfo(dev string) string {
	if n, ok := strings.CutPrefix(dev, "virtio"); ok {
		return "virtio@" + n
	}
	return "pci@" + dev
}

// lshwSpeed prints a link speed as lshw does: 1Gbit/s, 100Mbit/s.
func lshwSpeed(mbps int) string {
	if mbps >= 1000 && mbps%1000 == 0 {
		return fmt.Sprintf("%dGbit/s", mbps/1000)
	}
	return fmt.Sprintf("%dMbit/s", mbps)
}

func firstIPv4(name string) *net.IPNet {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil
	}
	addrs, _ := ifi.Addrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return &net.IPNet{IP: ipn.IP.To4(), Mask: ipn.Mask[len(ipn.Mask)-4:]}
		}
	}
	return nil
}
