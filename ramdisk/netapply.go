package ramdisk

import (
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// defaultMIIMon is the link check interval of a bond that names none:
// without one (the kernel's default is 0) a bond never notices a member's
// link going down, and active-backup would not fail over.
const defaultMIIMon = 100

// applyPlan creates and configures p's links, then its addresses and
// routes, in the calling thread's network namespace. A failure does not
// stop the rest; the error joins them all.
func applyPlan(log *slog.Logger, p netPlan) error {
	var errs []error
	for _, l := range p.links {
		if err := applyLink(l); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", l.name, err))
			continue
		}
		log.Info("ramdisk: network_data link", "name", l.name, "kind", l.kindName(), "members", l.members,
			"parent", l.parent, "vlan", l.vlanID, "mode", l.bondMode)
	}
	for _, a := range p.addrs {
		link, err := netlink.LinkByName(a.link)
		if err == nil {
			addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.prefix.Addr().AsSlice(), Mask: net.CIDRMask(a.prefix.Bits(), a.prefix.Addr().BitLen())}}
			if a.prefix.Addr().Is6() {
				// Duplicate address detection would hold the address
				// back (tentative, no source for lookup) for a second or
				// more; the address is the operator's to keep unique.
				addr.Flags = unix.IFA_F_NODAD
			}
			err = netlink.AddrReplace(link, addr)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: address %s: %w", a.link, a.prefix, err))
			continue
		}
		log.Info("ramdisk: static address", "nic", a.link, "addr", a.prefix)
	}
	for _, r := range p.routes {
		link, err := netlink.LinkByName(r.link)
		if err == nil {
			// A default route has no Dst; the gateway gives the family.
			nr := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: r.gw.AsSlice()}
			if r.dst.Bits() > 0 {
				nr.Dst = &net.IPNet{IP: r.dst.Addr().AsSlice(), Mask: net.CIDRMask(r.dst.Bits(), r.dst.Addr().BitLen())}
			}
			err = netlink.RouteReplace(nr)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: route %s via %s: %w", r.link, r.dst, r.gw, err))
			continue
		}
		log.Info("ramdisk: static route", "nic", r.link, "dst", r.dst, "gw", r.gw)
	}
	return errors.Join(errs...)
}

func (l planLink) kindName() string {
	return [...]string{kindNIC: "nic", kindBond: ndBond, kindVLAN: ndVLAN}[l.kind]
}

// applyLink sets a NIC's MTU and brings it up, or creates a bond (members
// enslaved, which the kernel allows only while they are down) or a VLAN
// and brings it up.
func applyLink(l planLink) error {
	attrs := netlink.LinkAttrs{Name: l.name, HardwareAddr: l.mac, MTU: l.mtu}
	var link netlink.Link
	switch l.kind {
	case kindNIC:
		var err error
		if link, err = netlink.LinkByName(l.name); err != nil {
			return err
		}
		if l.mtu > 0 {
			if err := netlink.LinkSetMTU(link, l.mtu); err != nil {
				return fmt.Errorf("mtu %d: %w", l.mtu, err)
			}
		}
	case kindBond:
		b := netlink.NewLinkBond(attrs)
		b.Mode = netlink.StringToBondMode(l.bondMode)
		b.Miimon = defaultMIIMon
		if l.miimon > 0 {
			b.Miimon = l.miimon
		}
		if l.hashPolicy != "" {
			b.XmitHashPolicy = netlink.StringToBondXmitHashPolicy(l.hashPolicy)
		}
		if err := netlink.LinkAdd(b); err != nil {
			return fmt.Errorf("create bond: %w", err)
		}
		link = b
		for _, m := range l.members {
			if err := enslave(m, b); err != nil {
				return fmt.Errorf("member %s: %w", m, err)
			}
		}
	case kindVLAN:
		parent, err := netlink.LinkByName(l.parent)
		if err != nil {
			return err
		}
		attrs.ParentIndex = parent.Attrs().Index
		v := &netlink.Vlan{LinkAttrs: attrs, VlanId: l.vlanID}
		if err := netlink.LinkAdd(v); err != nil {
			return fmt.Errorf("create vlan %d on %s: %w", l.vlanID, l.parent, err)
		}
		link = v
	}
	return netlink.LinkSetUp(link)
}

func enslave(name string, bond netlink.Link) error {
	m, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetDown(m); err != nil {
		return err
	}
	if err := netlink.LinkSetMaster(m, bond); err != nil {
		return err
	}
	return netlink.LinkSetUp(m)
}
