package ramdisk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/insomniacslk/dhcp/rfc1035label"
	"github.com/vishvananda/netlink"
)

// ErrNoNetwork reports that no NIC came up with an address in time.
var ErrNoNetwork = errors.New("no network")

const (
	nicWait      = 30 * time.Second // drivers of big NICs register late
	dhcpWait     = 60 * time.Second // until Setup gives up on the first lease
	linkUpWait   = 20 * time.Second // autonegotiation on real switches
	carrierPoll  = 20 * time.Millisecond
	dhcpAttempt  = 2 * time.Second
	dhcpRetries  = 3
	dhcpBackoff  = time.Second
	sysClassNet  = "/sys/class/net"
	resolvConf   = "/etc/resolv.conf"
	metricOthers = 100 // default routes of non-primary NICs: metric 100+ifindex
)

// physicalNICs lists Ethernet interfaces backed by a device (no lo, bridges
// or other virtual links), sorted by name.
func physicalNICs() ([]netlink.Link, error) {
	ents, err := os.ReadDir(sysClassNet)
	if err != nil {
		return nil, err
	}
	var out []netlink.Link
	for _, e := range ents {
		dir := filepath.Join(sysClassNet, e.Name())
		typ, err := os.ReadFile(filepath.Join(dir, "type"))
		if err != nil || strings.TrimSpace(string(typ)) != "1" { // ARPHRD_ETHER
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "device")); err != nil {
			continue
		}
		l, err := netlink.LinkByName(e.Name())
		if err != nil {
			continue
		}
		out = append(out, l)
	}
	return out, nil
}

// waitNICs polls until the BOOTIF NIC (or, without BOOTIF, any NIC) exists.
func waitNICs(ctx context.Context, bootMAC net.HardwareAddr) ([]netlink.Link, error) {
	ctx, cancel := context.WithTimeout(ctx, nicWait)
	defer cancel()
	for {
		nics, err := physicalNICs()
		if err != nil {
			return nil, err
		}
		if len(nics) > 0 && (bootMAC == nil || findMAC(nics, bootMAC) != nil) {
			return nics, nil
		}
		select {
		case <-ctx.Done():
			if len(nics) > 0 {
				return nics, fmt.Errorf("%w: no NIC with BOOTIF %s among %d", ErrNoNetwork, bootMAC, len(nics))
			}
			return nil, fmt.Errorf("%w: no Ethernet NIC after %v", ErrNoNetwork, nicWait)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func findMAC(nics []netlink.Link, mac net.HardwareAddr) netlink.Link {
	for _, l := range nics {
		if bytes.Equal(l.Attrs().HardwareAddr, mac) {
			return l
		}
	}
	return nil
}

// linksUp sets every NIC up: the kernel then does IPv6 stateless
// autoconfiguration on its own (router advertisements), and carrier shows.
func linksUp(log *slog.Logger, nics []netlink.Link) {
	for _, l := range nics {
		if err := netlink.LinkSetUp(l); err != nil {
			log.Warn("ramdisk: cannot set link up", "nic", l.Attrs().Name, "error", err)
		}
	}
}

func configureStatic(l netlink.Link, s *staticNet) error {
	ipnet := &net.IPNet{IP: s.addr.Addr().AsSlice(), Mask: net.CIDRMask(s.addr.Bits(), s.addr.Addr().BitLen())}
	if err := netlink.AddrReplace(l, &netlink.Addr{IPNet: ipnet}); err != nil {
		return fmt.Errorf("%s: address %s: %w", l.Attrs().Name, s.addr, err)
	}
	if s.gw.IsValid() {
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: s.gw.AsSlice()}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("%s: default route via %s: %w", l.Attrs().Name, s.gw, err)
		}
	}
	return nil
}

// dhcpAll runs DHCPv4 on every NIC and returns the primary's lease: the
// BOOTIF NIC's, or without BOOTIF the first to arrive. The primary gets the
// plain default route and writes resolv.conf; other NICs get addresses and
// higher-metric routes. NICs that have no lease yet keep trying in the
// background until ctx ends. Once v6 closes (IPv6 is up) it waits only
// v4Grace more and may return no lease (see waitPrimary). With vlans, VLAN
// links get DHCP as they appear (not those network_data.json configures).
func dhcpAll(ctx context.Context, log *slog.Logger, nics []netlink.Link, bootMAC net.HardwareAddr, v6 <-chan struct{}, vlans bool) (*dhcpv4.DHCPv4, error) {
	d := &dhcpRun{log: log, bootMAC: bootMAC, primary: make(chan *dhcpv4.DHCPv4, 1)}
	// The BOOTIF NIC starts first.
	slices.SortStableFunc(nics, func(a, b netlink.Link) int {
		return boolRank(bootMAC != nil && bytes.Equal(b.Attrs().HardwareAddr, bootMAC)) -
			boolRank(bootMAC != nil && bytes.Equal(a.Attrs().HardwareAddr, bootMAC))
	})
	for _, l := range nics {
		go d.loop(ctx, l, true)
	}
	if !vlans {
		return waitPrimary(ctx, d.primary, v6)
	}
	if err := d.watchVLANs(ctx); err != nil {
		log.Warn("ramdisk: no DHCP on VLAN links added later", "error", err)
	}
	return waitPrimary(ctx, d.primary, v6)
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

type dhcpRun struct {
	log     *slog.Logger
	bootMAC net.HardwareAddr
	primary chan *dhcpv4.DHCPv4

	mu          sync.Mutex
	havePrimary bool
}

// loop gets l a lease; only a physical NIC's (mayBePrimary) can be the
// primary one, as a VLAN shares its parent's MAC, BOOTIF's too.
func (d *dhcpRun) loop(ctx context.Context, l netlink.Link, mayBePrimary bool) {
	name := l.Attrs().Name
	for ctx.Err() == nil {
		msg, err := lease4(ctx, l)
		if err == nil {
			primary := mayBePrimary && d.claimPrimary(l)
			if err = configureLease(l, msg, primary); err == nil {
				d.log.Info("ramdisk: DHCP lease", "nic", name, "addr", msg.YourIPAddr, "primary", primary)
				if primary {
					d.primary <- msg
				}
				return
			}
			d.log.Error("ramdisk: cannot apply DHCP lease", "nic", name, "error", err)
		} else {
			d.log.Debug("ramdisk: DHCP attempt failed", "nic", name, "error", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(dhcpBackoff):
		}
	}
}

// lease4 waits for carrier, then runs DHCPv4 on l. The carrier file shows the
// driver's view at once, while the operational state that dhclient waits for
// lags it by up to a second (the kernel's link watch rate limit); the raw
// socket DHCP uses sends as soon as the link is up with carrier.
func lease4(ctx context.Context, l netlink.Link) (*dhcpv4.DHCPv4, error) {
	name := l.Attrs().Name
	if err := waitCarrier(ctx, name, linkUpWait); err != nil {
		return nil, err
	}
	c, err := nclient4.New(name, nclient4.WithTimeout(dhcpAttempt), nclient4.WithRetry(dhcpRetries))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	lease, err := c.Request(ctx, dhcpv4.WithRequestedOptions(
		dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionClasslessStaticRoute,
		dhcpv4.OptionDomainNameServer, dhcpv4.OptionDomainName, dhcpv4.OptionDNSDomainSearchList,
		dhcpv4.OptionHostName))
	if err != nil {
		return nil, err
	}
	return lease.ACK, nil
}

// waitCarrier polls /sys/class/net/NAME/carrier until it reads 1.
func waitCarrier(ctx context.Context, name string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if b, err := os.ReadFile(filepath.Join(sysClassNet, name, "carrier")); err == nil && bytes.Equal(bytes.TrimSpace(b), []byte("1")) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: no carrier after %v: %w", name, timeout, ErrNoNetwork)
		case <-time.After(carrierPoll):
		}
	}
}

// claimPrimary decides whether l's lease is the primary one.
func (d *dhcpRun) claimPrimary(l netlink.Link) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.havePrimary {
		return false
	}
	if d.bootMAC != nil && !bytes.Equal(l.Attrs().HardwareAddr, d.bootMAC) {
		return false
	}
	d.havePrimary = true
	return true
}

// configureLease applies a DHCPv4 ACK. A plain configuration would let
// every NIC replace the one default route and resolv.conf.
func configureLease(l netlink.Link, msg *dhcpv4.DHCPv4, primary bool) error {
	if msg.YourIPAddr == nil || msg.YourIPAddr.IsUnspecified() {
		return errors.New("lease without address")
	}
	mask := msg.SubnetMask()
	if mask == nil {
		mask = net.CIDRMask(32, 32) // no mask offered: the most restrictive
	}
	ipnet := &net.IPNet{IP: msg.YourIPAddr, Mask: mask}
	if err := netlink.AddrReplace(l, &netlink.Addr{IPNet: ipnet}); err != nil {
		return fmt.Errorf("address %s: %w", ipnet, err)
	}
	metric := 0
	if !primary {
		metric = metricOthers + l.Attrs().Index
	}
	var routes []*netlink.Route
	// RFC 3442: classless static routes, when present, replace the router option.
	if cs := msg.ClasslessStaticRoute(); cs != nil {
		for _, r := range cs {
			nr := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: r.Dest, Gw: r.Router, Priority: metric}
			if r.Router == nil || r.Router.Equal(net.IPv4zero) {
				nr.Gw, nr.Scope = nil, netlink.SCOPE_LINK
			}
			routes = append(routes, nr)
		}
	} else if gw := msg.Router(); len(gw) > 0 {
		routes = append(routes, &netlink.Route{LinkIndex: l.Attrs().Index, Gw: gw[0], Priority: metric})
	}
	for _, r := range routes {
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("route %s: %w", r, err)
		}
	}
	if primary {
		if ns := msg.DNS(); len(ns) > 0 {
			return os.WriteFile(resolvConf, resolvConfFor(ns, msg.DomainSearch(), msg.DomainName()), 0o644)
		}
	}
	return nil
}

// resolvConfFor renders resolv.conf from a lease's DNS options.
func resolvConfFor(ns []net.IP, search *rfc1035label.Labels, domain string) []byte {
	var b bytes.Buffer
	if domain != "" {
		fmt.Fprintf(&b, "domain %s\n", domain)
	}
	for _, ip := range ns {
		fmt.Fprintf(&b, "nameserver %s\n", ip)
	}
	if search != nil && len(search.Labels) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search.Labels, " "))
	}
	return b.Bytes()
}
