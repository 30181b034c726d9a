package hardware

import (
	"net"
	"os"

	"github.com/u-root/u-root/pkg/ipmi"
)

// lanConfig is the one IPMI request the BMC lookup needs.
type lanConfig interface {
	GetLanConfig(channel, param byte) ([]byte, error)
}

// IPMI LAN configuration parameters.
const (
	lanIPAddress  = 3
	lanMACAddress = 5
)

// BMC reports the BMC's addresses through /dev/ipmi0, as IPA's
// get_bmc_address / get_bmc_v6address / get_bmc_mac: all null without an
// IPMI device; "0.0.0.0" and "::/0" when the BMC has no address; the MAC
// only when a channel has one.
func BMC(r Root) (v4, v6, mac *string) {
	path := r.dev("ipmi0")
	if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil, nil, nil
	}
	dev, err := ipmi.OpenPath(path)
	if err != nil {
		r.log().Warn("opening the IPMI device", "path", path, "error", err)
		return nil, nil, nil
	}
	defer dev.Close()
	v4, mac = bmcLAN(dev)
	// IPv6 LAN parameters are optional in IPMI 2.0 and rarely set; IPA
	// reports "::/0" when it finds none.
	return v4, ptr("::/0"), mac
}

// bmcLAN asks channels 1-11, the ones that can be LAN channels, for the
// first configured IPv4 address and MAC.
func bmcLAN(c lanConfig) (v4, mac *string) {
	v4 = ptr("0.0.0.0")
	for ch := byte(1); ch <= 11; ch++ {
		// Responses are completion code, parameter revision, data.
		if b, err := c.GetLanConfig(ch, lanIPAddress); err == nil && len(b) >= 6 {
			if ip := net.IP(b[2:6]); !ip.IsUnspecified() && *v4 == "0.0.0.0" {
				v4 = ptr(ip.String())
			}
		}
		if b, err := c.GetLanConfig(ch, lanMACAddress); err == nil && len(b) >= 8 && mac == nil {
			if hw := net.HardwareAddr(b[2:8]); !allZero(hw) {
				mac = ptr(hw.String())
			}
		}
		if *v4 != "0.0.0.0" && mac != nil {
			break
		}
	}
	return v4, mac
}
