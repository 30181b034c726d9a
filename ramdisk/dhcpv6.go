package ramdisk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/dhcpv6/nclient6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/vishvananda/netlink"
)

// ErrNoDHCPv6Address reports a stateful DHCPv6 reply without an address.
var ErrNoDHCPv6Address = errors.New("DHCPv6 reply without an address")

// dhcpv6Client opens a DHCPv6 client on l. It binds to the link-local
// address, which the kernel only allows once duplicate address detection
// is over (about a second after carrier): it retries until then.
func dhcpv6Client(ctx context.Context, l netlink.Link) (*nclient6.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, linkUpWait)
	defer cancel()
	for {
		c, err := nclient6.New(l.Attrs().Name, nclient6.WithTimeout(dhcpAttempt), nclient6.WithRetry(dhcpRetries))
		if err == nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: DHCPv6 client: %w", l.Attrs().Name, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stateful asks DHCPv6 for an address (the RA's M flag) and adds it to l.
// As with DHCPv4, the ramdisk does not renew: the address has no lifetime.
func stateful(ctx context.Context, l netlink.Link) (*dhcpv6.Message, error) {
	c, err := dhcpv6Client(ctx, l)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	reply, err := c.RapidSolicit(ctx)
	if err != nil {
		return nil, fmt.Errorf("DHCPv6: %w", err)
	}
	addrs := leasedAddrs(reply)
	if len(addrs) == 0 {
		return nil, ErrNoDHCPv6Address
	}
	for _, ip := range addrs {
		// A /128: the RA's prefix information says what is on-link.
		a := &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(128, 128)}}
		if err := netlink.AddrReplace(l, a); err != nil {
			return nil, fmt.Errorf("address %s: %w", ip, err)
		}
	}
	return reply, nil
}

// leasedAddrs lists the addresses of a reply's IA_NA options.
func leasedAddrs(m *dhcpv6.Message) []net.IP {
	var out []net.IP
	for _, ia := range m.Options.IANA() {
		for _, a := range ia.Options.Addresses() {
			out = append(out, a.IPv6Addr)
		}
	}
	return out
}

// stateless asks DHCPv6 for DNS only (the RA's O flag): an
// Information-request (RFC 8415 §18.2.6).
func stateless(ctx context.Context, l netlink.Link) (*dhcpv6.Message, error) {
	c, err := dhcpv6Client(ctx, l)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	msg, err := dhcpv6.NewMessage(
		dhcpv6.WithClientID(&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: l.Attrs().HardwareAddr}),
		dhcpv6.WithRequestedOptions(dhcpv6.OptionDNSRecursiveNameServer, dhcpv6.OptionDomainSearchList))
	if err != nil {
		return nil, err
	}
	msg.MessageType = dhcpv6.MessageTypeInformationRequest
	msg.AddOption(dhcpv6.OptElapsedTime(0))
	reply, err := c.SendAndRead(ctx, nclient6.AllDHCPRelayAgentsAndServers, msg, nclient6.IsMessageType(dhcpv6.MessageTypeReply))
	if err != nil {
		return nil, fmt.Errorf("DHCPv6 information-request: %w", err)
	}
	return reply, nil
}
