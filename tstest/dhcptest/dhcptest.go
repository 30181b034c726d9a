// Package dhcptest answers DHCPv4 as a one-lease server, for the tests that
// play a network's DHCP server (a namespace's veth, a VM's switch).
package dhcptest

import (
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Net is a /24 with its server's address and the one address it leases.
type Net struct {
	Server, Lease net.IP
}

// Reply answers a DISCOVER with an OFFER and a REQUEST with an ACK of
// n.Lease; other messages get nil.
func Reply(m *dhcpv4.DHCPv4, n Net) (*dhcpv4.DHCPv4, error) {
	typ := dhcpv4.MessageTypeOffer
	switch m.MessageType() {
	case dhcpv4.MessageTypeDiscover:
	case dhcpv4.MessageTypeRequest:
		typ = dhcpv4.MessageTypeAck
	default:
		return nil, nil
	}
	return dhcpv4.NewReplyFromRequest(m, dhcpv4.WithMessageType(typ), dhcpv4.WithYourIP(n.Lease),
		dhcpv4.WithServerIP(n.Server), dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(n.Server)), dhcpv4.WithLeaseTime(3600))
}
