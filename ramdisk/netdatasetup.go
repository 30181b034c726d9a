package ramdisk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/vishvananda/netlink"
)

// networkDataModules are the kernel modules bonds and VLANs need; the
// module lists load them in the background otherwise, after the network.
var networkDataModules = []string{"bonding", "8021q"}

// applyNetworkData configures the network as nd says, in place of DHCP on
// every NIC: links, static addresses and routes, resolv.conf, and DHCPv4
// on the ipv4_dhcp links, whose first lease it returns.
func applyNetworkData(ctx context.Context, log *slog.Logger, nd *NetworkData, nics []netlink.Link, mods *loader) (*dhcpv4.DHCPv4, error) {
	var present []nic
	for _, l := range nics {
		present = append(present, nic{name: l.Attrs().Name, mac: l.Attrs().HardwareAddr})
	}
	p := planNetwork(nd, present)
	for _, err := range p.skipped {
		log.Warn("ramdisk: network_data entry left out", "error", err)
	}
	var errs []error
	if mods != nil {
		errs = append(errs, mods.load(ctx, networkDataModules))
	}
	errs = append(errs, applyPlan(log, p))
	if len(p.dns) > 0 {
		ns := make([]net.IP, len(p.dns))
		for i, a := range p.dns {
			ns[i] = a.AsSlice()
		}
		errs = append(errs, os.WriteFile(resolvConf, resolvConfFor(ns, nil, ""), 0o644))
	}
	for _, name := range p.ra {
		log.Info("ramdisk: IPv6 from router advertisements (no DHCPv6)", "nic", name)
	}
	var lease *dhcpv4.DHCPv4
	if len(p.dhcp4) > 0 {
		var links []netlink.Link
		for _, name := range p.dhcp4 {
			l, err := netlink.LinkByName(name)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				continue
			}
			links = append(links, l)
		}
		if len(links) > 0 {
			var err error
			lease, err = dhcpAll(ctx, log, links, nil, nil, false)
			errs = append(errs, err)
		}
	}
	return lease, errors.Join(errs...)
}
