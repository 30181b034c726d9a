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
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/rfc1035label"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const (
	ipv6Conf = "/proc/sys/net/ipv6/conf"
	// raWait covers the kernel's three router solicitations, 4 s apart.
	raWait = 15 * time.Second
	// v4Grace is how long an IPv6-ready network still waits for a DHCPv4
	// lease (and its host name) before Setup goes on with IPv6 alone:
	// about one DHCPv4 exchange under emulation.
	v4Grace = 3 * time.Second
)

// ipv6Sysctls turn IPv6 on with SLAAC, whatever the kernel's defaults:
// accept_ra=1 takes router advertisements (the ramdisk does not forward).
var ipv6Sysctls = []struct{ key, value string }{
	{"disable_ipv6", "0"},
	{"accept_ra", "1"},
	{"autoconf", "1"},
}

// enableIPv6 writes the sysctls for name under confDir (a NIC, or
// "default" for links added later such as VLANs).
func enableIPv6(confDir, name string) error {
	var errs []error
	for _, s := range ipv6Sysctls {
		errs = append(errs, os.WriteFile(filepath.Join(confDir, name, s.key), []byte(s.value), 0o644))
	}
	return errors.Join(errs...)
}

// ipv6Run brings up IPv6 on the NICs; ready closes once one of them has a
// global address.
type ipv6Run struct {
	log   *slog.Logger
	ready chan struct{}
	once  sync.Once
}

// startIPv6 enables IPv6 and listens for router advertisements on every
// NIC; call it before the links go up. Each NIC then waits for carrier and
// an RA, runs DHCPv6 as the RA asks (stateful for an address with M,
// stateless for DNS with O; the kernel does SLAAC from the prefixes), and
// signals ready once it has a global address.
func startIPv6(ctx context.Context, log *slog.Logger, nics []netlink.Link) <-chan struct{} {
	r := &ipv6Run{log: log, ready: make(chan struct{})}
	if err := enableIPv6(ipv6Conf, "default"); err != nil {
		log.Warn("ramdisk: IPv6 defaults", "error", err)
	}
	for _, l := range nics {
		name := l.Attrs().Name
		if err := enableIPv6(ipv6Conf, name); err != nil {
			log.Warn("ramdisk: cannot enable IPv6", "nic", name, "error", err)
			continue
		}
		c, err := listenRA(ctx, name)
		if err != nil {
			log.Warn("ramdisk: no IPv6 autoconfiguration", "nic", name, "error", err)
			continue
		}
		go r.nic(ctx, l, c)
	}
	return r.ready
}

func (r *ipv6Run) nic(ctx context.Context, l netlink.Link, c *net.IPConn) {
	name := l.Attrs().Name
	ra, err := func() (routerAdvert, error) {
		defer c.Close()
		if err := waitCarrier(ctx, name, linkUpWait); err != nil {
			return routerAdvert{}, err
		}
		return readRA(ctx, c, raWait)
	}()
	if err != nil {
		r.log.Debug("ramdisk: no IPv6 router", "nic", name, "error", err)
		return
	}
	r.log.Info("ramdisk: IPv6 router advertisement", "nic", name, "managed", ra.managed, "other", ra.other, "dns", ra.dns)
	dns := ra.dns
	var search *rfc1035label.Labels
	var reply *dhcpv6.Message
	switch {
	case ra.managed:
		reply, err = stateful(ctx, l)
	case ra.other:
		reply, err = stateless(ctx, l)
	}
	if err != nil {
		r.log.Warn("ramdisk: DHCPv6", "nic", name, "error", err)
	}
	if reply != nil {
		r.log.Info("ramdisk: DHCPv6 reply", "nic", name, "addrs", leasedAddrs(reply), "dns", reply.Options.DNS())
		dns = append(reply.Options.DNS(), dns...)
		search = reply.Options.DomainSearchList()
	}
	if len(dns) > 0 {
		if err := writeResolv6(resolvConf, dns, search); err != nil {
			r.log.Warn("ramdisk: resolv.conf", "error", err)
		}
	}
	if ip := r.waitGlobal(ctx, l); ip != nil {
		r.log.Info("ramdisk: IPv6 address", "nic", name, "addr", ip)
		r.once.Do(func() { close(r.ready) })
	}
}

// waitGlobal waits for a global address on l that has passed duplicate
// address detection, so the agent can use it as a source at once.
func (r *ipv6Run) waitGlobal(ctx context.Context, l netlink.Link) net.IP {
	ctx, cancel := context.WithTimeout(ctx, linkUpWait)
	defer cancel()
	for {
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V6)
		if err != nil {
			r.log.Warn("ramdisk: IPv6 addresses", "nic", l.Attrs().Name, "error", err)
			return nil
		}
		for _, a := range addrs {
			if a.IP.IsGlobalUnicast() && a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0 {
				return a.IP
			}
		}
		select {
		case <-ctx.Done():
			r.log.Debug("ramdisk: no global IPv6 address", "nic", l.Attrs().Name)
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var resolvMu sync.Mutex

// writeResolv6 writes IPv6 DNS servers to resolv.conf unless a DHCPv4 lease
// already did: on a dual-stack network IPv4's DNS is kept, and the primary
// NIC's DHCPv4 lease, should it come later, overwrites this.
func writeResolv6(path string, dns []net.IP, search *rfc1035label.Labels) error {
	resolvMu.Lock()
	defer resolvMu.Unlock()
	if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte("nameserver")) {
		return nil
	}
	return os.WriteFile(path, resolvConfFor(dns, search, ""), 0o644)
}

// waitPrimary returns the primary NIC's DHCPv4 lease; once IPv6 is ready
// it waits v4Grace more for one and then returns nil, so an IPv6-only
// network does not wait out dhcpWait.
func waitPrimary(ctx context.Context, primary <-chan *dhcpv4.DHCPv4, v6 <-chan struct{}) (*dhcpv4.DHCPv4, error) {
	timeout, v6up := time.After(dhcpWait), false
	for {
		select {
		case lease := <-primary:
			return lease, nil
		case <-v6:
			v6, v6up, timeout = nil, true, time.After(v4Grace)
		case <-timeout:
			if v6up {
				return nil, nil
			}
			return nil, fmt.Errorf("%w: no DHCP lease and no IPv6 address after %v", ErrNoNetwork, dhcpWait)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
