package ramdisk

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ErrBadOption reports a kernel parameter this package cannot use.
var ErrBadOption = errors.New("invalid kernel parameter")

// Kernel parameters read by Setup besides IPA's own BOOTIF.
const (
	paramNet      = "goipa.net"      // "dhcp" (default) or "static"
	paramIP       = "goipa.ip"       // ADDR/PREFIX; implies static
	paramGateway  = "goipa.gw"       // default gateway for static
	paramHostname = "goipa.hostname" // overrides the DHCP host name
	paramBootIF   = "BOOTIF"
	paramNoLoad   = "modprobe.blacklist"
)

// The QEMU user network's guest address and router: goipa.net=static alone
// gives these, so tests need no DHCP.
var (
	defaultStaticAddr = netip.MustParsePrefix("10.0.2.15/24")
	defaultStaticGW   = netip.MustParseAddr("10.0.2.2")
)

// options are the ramdisk settings taken from the kernel command line.
type options struct {
	bootMAC   net.HardwareAddr // NIC configured first; nil without BOOTIF
	static    *staticNet       // nil means DHCP on every NIC with a link
	hostname  string
	ntp       []string
	blacklist map[string]bool // module names (underscores) never loaded
}

type staticNet struct {
	addr netip.Prefix
	gw   netip.Addr // invalid: no default route
}

func parseOptions(cmdline map[string]string) (options, error) {
	var o options
	if raw, ok := cmdline[paramBootIF]; ok {
		mac, err := parseBootIF(raw)
		if err != nil {
			return o, fmt.Errorf("%s=%q: %w: %v", paramBootIF, raw, ErrBadOption, err)
		}
		o.bootMAC = mac
	}

	static, err := parseStatic(cmdline)
	if err != nil {
		return o, err
	}
	o.static = static

	o.hostname = cmdline[paramHostname]
	if o.hostname != "" && !validHostname(o.hostname) {
		return o, fmt.Errorf("%s=%q: %w", paramHostname, o.hostname, ErrBadOption)
	}
	o.blacklist = map[string]bool{}
	for _, m := range splitList(cmdline[paramNoLoad]) {
		o.blacklist[moduleName(m)] = true
	}
	return o, nil
}

func parseStatic(cmdline map[string]string) (*staticNet, error) {
	mode, ip, gw := cmdline[paramNet], cmdline[paramIP], cmdline[paramGateway]
	switch mode {
	case "", "dhcp":
		if mode == "dhcp" && ip != "" {
			return nil, fmt.Errorf("%s=dhcp with %s: %w", paramNet, paramIP, ErrBadOption)
		}
		if ip == "" {
			if gw != "" {
				return nil, fmt.Errorf("%s without %s: %w", paramGateway, paramIP, ErrBadOption)
			}
			return nil, nil
		}
	case "static":
	default:
		return nil, fmt.Errorf("%s=%q: %w: want dhcp or static", paramNet, mode, ErrBadOption)
	}
	if ip == "" {
		if gw != "" {
			return nil, fmt.Errorf("%s without %s: %w", paramGateway, paramIP, ErrBadOption)
		}
		return &staticNet{addr: defaultStaticAddr, gw: defaultStaticGW}, nil
	}
	addr, err := netip.ParsePrefix(ip)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %w: want ADDR/PREFIX", paramIP, ip, ErrBadOption)
	}
	s := &staticNet{addr: addr}
	if gw != "" {
		if s.gw, err = netip.ParseAddr(gw); err != nil {
			return nil, fmt.Errorf("%s=%q: %w", paramGateway, gw, ErrBadOption)
		}
		if s.gw.Is4() != addr.Addr().Is4() {
			return nil, fmt.Errorf("%s=%q is not in the family of %s: %w", paramGateway, gw, ip, ErrBadOption)
		}
	}
	return s, nil
}

// parseBootIF accepts PXELINUX's "01-aa-bb-cc-dd-ee-ff" (ARP type 1, then
// the MAC) and a plain "aa:bb:cc:dd:ee:ff".
func parseBootIF(s string) (net.HardwareAddr, error) {
	if typ, rest, ok := strings.Cut(s, "-"); ok && strings.Count(s, "-") == 6 {
		if typ != "01" {
			return nil, fmt.Errorf("hardware type %q is not Ethernet (01)", typ)
		}
		s = strings.ReplaceAll(rest, "-", ":")
	}
	mac, err := net.ParseMAC(s)
	if err != nil || len(mac) != 6 {
		return nil, errors.New(`want "01-aa-bb-cc-dd-ee-ff" or "aa:bb:cc:dd:ee:ff"`)
	}
	return mac, nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// validHostname follows RFC 1123: dot-separated labels of letters, digits and
// inner hyphens, at most 63 bytes each and 253 in all.
func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
