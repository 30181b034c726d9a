package hardware

import (
	"net"
	"os"

	"github.com/u-root/u-root/pkg/ipmi"
)

// IPMI LAN configuration parameters "ipmitool lan print" shows besides the
// address and the MAC.
const (
	lanIPSource       = 4
	lanSubnetMask     = 6
	lanDefaultGateway = 12
)

// ipmiFacts are hardware-detect's "ipmitool lan print" facts, through
// /dev/ipmi0.
func ipmiFacts(r Root) []HWFact {
	path := r.dev("ipmi0")
	if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	dev, err := ipmi.OpenPath(path)
	if err != nil {
		r.log().Warn("extra-hardware: opening the IPMI device", "path", path, "error", err)
		return nil
	}
	defer dev.Close()
	return lanFacts(dev)
}

// lanFacts describes the first LAN channel, the one ipmitool prints by
// default, with ipmitool's field names lower-cased and dashed.
func lanFacts(c lanConfig) []HWFact {
	param := func(ch, p byte, n int) []byte {
		// Responses are completion code, parameter revision, data.
		if b, err := c.GetLanConfig(ch, p); err == nil && len(b) >= 2+n {
			return b[2 : 2+n]
		}
		return nil
	}
	for ch := byte(1); ch <= 11; ch++ {
		ip := param(ch, lanIPAddress, 4)
		if ip == nil {
			continue
		}
		h := &hwFacts{category: "ipmi"}
		if src := param(ch, lanIPSource, 1); src != nil {
			h.add("lan", "ip-address-source", []string{"Unspecified", "Static Address", "DHCP Address",
				"BIOS Assigned Address", "Other"}[min(int(src[0]&0x0f), 4)])
		}
		h.add("lan", "ip-address", net.IP(ip).String())
		if mask := param(ch, lanSubnetMask, 4); mask != nil {
			h.add("lan", "subnet-mask", net.IP(mask).String())
		}
		if mac := param(ch, lanMACAddress, 6); mac != nil {
			h.add("lan", "mac-address", net.HardwareAddr(mac).String())
		}
		if gw := param(ch, lanDefaultGateway, 4); gw != nil {
			h.add("lan", "default-gateway-ip", net.IP(gw).String())
		}
		return h.facts
	}
	return nil
}
