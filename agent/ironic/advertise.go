package ironic

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"
)

// ErrNoAdvertiseIP: no usable address to put in the callback URL was found.
var ErrNoAdvertiseIP = errors.New("ironic: agent could not find a valid IP address to advertise")

// Defaults of ipa-ip-lookup-attempts and ipa-ip-lookup-timeout.
const (
	DefaultIPLookupAttempts = 6
	DefaultIPLookupTimeout  = 10 * time.Second
)

// AdvertiseOptions say how to find the address Ironic should call back on.
type AdvertiseOptions struct {
	Host      string        // ipa-advertise-host: an IP or a name to resolve
	Interface string        // ipa-network-interface
	APIURLs   []string      // the Ironic endpoints (Client.URLs), to find the route towards
	Attempts  int           // ipa-ip-lookup-attempts; < 1 means DefaultIPLookupAttempts
	Wait      time.Duration // ipa-ip-lookup-timeout, the pause between attempts; 0 means DefaultIPLookupTimeout
}

// AdvertiseIP returns the agent's callback address: Host if set (resolved),
// else the first non-link-local address of Interface (IPv4 preferred), else
// the source address the kernel picks for the route to each API host in
// turn. The last two are retried, as the network may still be coming up.
// Link-local addresses are never returned.
func AdvertiseIP(ctx context.Context, opts AdvertiseOptions) (net.IP, error) {
	if opts.Host != "" {
		return resolveHost(ctx, opts.Host)
	}
	attempts := opts.Attempts
	if attempts < 1 {
		attempts = DefaultIPLookupAttempts
	}
	wait := opts.Wait
	if wait == 0 {
		wait = DefaultIPLookupTimeout
	}
	var last error
	for i := range attempts {
		if i > 0 {
			if err := sleep(ctx, realClock{}, wait); err != nil {
				return nil, err
			}
		}
		var ip net.IP
		if opts.Interface != "" {
			ip, last = interfaceIP(opts.Interface)
		} else {
			ip, last = routeSourceIP(ctx, opts.APIURLs)
		}
		if last == nil {
			return ip, nil
		}
	}
	return nil, fmt.Errorf("%w after %d attempts: %w", ErrNoAdvertiseIP, attempts, last)
}

func resolveHost(ctx context.Context, host string) (net.IP, error) {
	if ip := net.ParseIP(host); ip != nil {
		return ip, nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("ipa-advertise-host: %w", err)
	}
	for _, a := range addrs {
		if usable(a.IP) {
			return a.IP, nil
		}
	}
	return nil, fmt.Errorf("%w: %s resolves to no usable address", ErrNoAdvertiseIP, host)
}

func interfaceIP(name string) (net.IP, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("ipa-network-interface %s: %w", name, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, fmt.Errorf("ipa-network-interface %s: %w", name, err)
	}
	var v6 net.IP
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || !usable(n.IP) {
			continue
		}
		if n.IP.To4() != nil {
			return n.IP.To4(), nil
		}
		if v6 == nil {
			v6 = n.IP
		}
	}
	if v6 != nil {
		return v6, nil
	}
	return nil, fmt.Errorf("ipa-network-interface %s has no usable address", name)
}

// routeSourceIP connects a UDP socket towards each API host: that only asks
// the kernel for a route and sends nothing, and the socket's local address is
// the source the kernel would use.
func routeSourceIP(ctx context.Context, apiURLs []string) (net.IP, error) {
	var errs []error
	for _, raw := range apiURLs {
		u, err := url.Parse(raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		port := u.Port()
		if port == "" {
			port = "80"
			if u.Scheme == "https" {
				port = "443"
			}
		}
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, u.Hostname())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, a := range addrs {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "udp", net.JoinHostPort(a.IP.String(), port))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			src := conn.LocalAddr().(*net.UDPAddr).IP
			conn.Close()
			if usable(src) {
				return src, nil
			}
			errs = append(errs, fmt.Errorf("route to %s uses unusable source %s", a.IP, src))
		}
	}
	if len(errs) == 0 {
		return nil, errors.New("no API URL to route towards")
	}
	return nil, joinErrors(errs)
}

func usable(ip net.IP) bool {
	return ip != nil && !ip.IsUnspecified() && !ip.IsLinkLocalUnicast() && !ip.IsLinkLocalMulticast()
}

// CallbackURL is the URL Ironic calls the agent back on, e.g.
// "https://10.1.2.3:9999" or "http://[fd00::5]:9999".
func CallbackURL(proto string, ip net.IP, port int) string {
	return proto + "://" + net.JoinHostPort(ip.String(), strconv.Itoa(port))
}
