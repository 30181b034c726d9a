package qemu

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/dhcpv6/server6"
	"golang.org/x/sys/unix"
)

// Router6 plays an IPv6 network's router and DHCPv6 server on a tap device
// the test owns in a network namespace of its own (see Options.Tap): router
// advertisements every raInterval with the flags the test picks, and DHCPv6
// answers (an address, DNS). QEMU's user network cannot: its forwards are
// IPv4 only.
type Router6 struct {
	opts Router6Options
	ra   *net.IPConn
	dhcp *server6.Server
	done chan struct{}

	mu   sync.Mutex
	seen []dhcpv6.MessageType
}

// Router6Options say what the router announces.
type Router6Options struct {
	Iface  string
	Source netip.Addr   // the router's link-local address, on Iface
	Prefix netip.Prefix // announced on-link
	// SLAAC sets the prefix's A flag, Managed and Other the RA's M and O.
	SLAAC, Managed, Other bool
	Lease                 netip.Addr // what DHCPv6 hands out
	DNS                   netip.Addr // what DHCPv6 tells
}

const raInterval = time.Second

var routerDUID = &dhcpv6.DUIDLL{HWType: 1, LinkLayerAddr: net.HardwareAddr{0x52, 0x54, 0x00, 0xff, 0x00, 0x06}}

// NewRouter6 starts the router on o.Iface; Close stops it.
func NewRouter6(o Router6Options) (*Router6, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			// RFC 4861 §6.1.2: a hop limit other than 255 is dropped.
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 255)
		})
		return errors.Join(err, serr)
	}}
	c, err := lc.ListenPacket(context.Background(), "ip6:ipv6-icmp", o.Source.WithZone(o.Iface).String())
	if err != nil {
		return nil, fmt.Errorf("router advertisements: %w", err)
	}
	r := &Router6{opts: o, ra: c.(*net.IPConn), done: make(chan struct{})}
	r.dhcp, err = server6.NewServer(o.Iface, nil, r.answer)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("DHCPv6 server: %w", err)
	}
	go func() { _ = r.dhcp.Serve() }()
	go r.advertise()
	return r, nil
}

// Close stops the router.
func (r *Router6) Close() error {
	close(r.done)
	return errors.Join(r.ra.Close(), r.dhcp.Close())
}

// DHCPv6Seen lists the types of the DHCPv6 messages received so far.
func (r *Router6) DHCPv6Seen() []dhcpv6.MessageType {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]dhcpv6.MessageType(nil), r.seen...)
}

func (r *Router6) advertise() {
	to := &net.IPAddr{IP: net.IPv6linklocalallnodes, Zone: r.opts.Iface}
	msg := r.advertisement()
	for {
		// Fails until QEMU has opened the tap (no carrier).
		_, _ = r.ra.WriteTo(msg, to)
		select {
		case <-r.done:
			return
		case <-time.After(raInterval):
		}
	}
}

// advertisement is the RA (RFC 4861 §4.2) with one prefix information
// option; router lifetime 0: the prefix is on-link, nothing is routed. The
// kernel fills in the checksum.
func (r *Router6) advertisement() []byte {
	var flags, pflags byte = 0, 0x80 // L: on-link
	if r.opts.Managed {
		flags |= 0x80
	}
	if r.opts.Other {
		flags |= 0x40
	}
	if r.opts.SLAAC {
		pflags |= 0x40
	}
	b := []byte{134, 0, 0, 0, 64, flags, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	pi := make([]byte, 32)
	pi[0], pi[1], pi[2], pi[3] = 3, 4, byte(r.opts.Prefix.Bits()), pflags
	binary.BigEndian.PutUint32(pi[4:], 86400) // valid lifetime
	binary.BigEndian.PutUint32(pi[8:], 14400) // preferred lifetime
	a := r.opts.Prefix.Masked().Addr().As16()
	copy(pi[16:], a[:])
	return append(b, pi...)
}

// answer is the DHCPv6 server: Solicit (with rapid commit or not),
// Request and Information-request.
func (r *Router6) answer(conn net.PacketConn, peer net.Addr, m dhcpv6.DHCPv6) {
	msg, err := m.GetInnerMessage()
	if err != nil {
		return
	}
	r.mu.Lock()
	r.seen = append(r.seen, msg.MessageType)
	r.mu.Unlock()
	mods := []dhcpv6.Modifier{dhcpv6.WithServerID(routerDUID), dhcpv6.WithDNS(r.opts.DNS.AsSlice())}
	if ia := msg.Options.OneIANA(); ia != nil && r.opts.Managed {
		mods = append(mods, dhcpv6.WithIAID(ia.IaId), dhcpv6.WithIANA(dhcpv6.OptIAAddress{
			IPv6Addr: r.opts.Lease.AsSlice(), PreferredLifetime: time.Hour, ValidLifetime: 2 * time.Hour}))
	}
	var reply *dhcpv6.Message
	switch {
	case msg.MessageType == dhcpv6.MessageTypeSolicit && msg.GetOneOption(dhcpv6.OptionRapidCommit) == nil:
		reply, err = dhcpv6.NewAdvertiseFromSolicit(msg, mods...)
	default:
		reply, err = dhcpv6.NewReplyFromMessage(msg, mods...)
	}
	if err != nil {
		return
	}
	_, _ = conn.WriteTo(reply.ToBytes(), peer)
}
