package qemu

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/tstest/fakeironic"
)

// netnsChild marks the test binary run again inside the test's own
// network namespace.
const netnsChild = "GOIPA_QEMU_NETNS_CHILD"

// inNetns runs the calling test again in a network namespace of its own,
// where it may create links and addresses without touching the host's, and
// returns true there; in the parent it waits for that run and returns false.
func inNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsChild) != "" {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			t.Fatal(err)
		}
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	run := "^" + t.Name() + "$"
	if f := flag.Lookup("test.run"); f != nil && strings.Contains(f.Value.String(), "/") {
		run = f.Value.String()
	}
	cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsChild+"=1")
	cmd.SysProcAttr = &unix.SysProcAttr{Cloneflags: unix.CLONE_NEWNET}
	out, err := cmd.CombinedOutput()
	t.Logf("in the network namespace:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("--- SKIP")) && !bytes.Contains(out, []byte("--- PASS")) {
		t.Skip("skipped in the namespace")
	}
	return false
}

// tap creates a tap device for QEMU in the test's network namespace, up,
// with the router's link-local and global addresses.
func tap(t *testing.T, name string, addrs ...netip.Prefix) {
	t.Helper()
	l := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: name}, Mode: netlink.TUNTAP_MODE_TAP,
		Flags: netlink.TUNTAP_NO_PI | netlink.TUNTAP_VNET_HDR}
	if err := netlink.LinkAdd(l); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(l) })
	for _, p := range addrs {
		a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 128)}, Flags: unix.IFA_F_NODAD}
		if err := netlink.AddrAdd(l, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
}

// TestIPv6Lookup: on an IPv6-only network the ramdisk gets its address as
// the router advertisement says (from DHCPv6 with the M flag; by SLAAC,
// with DNS from stateless DHCPv6, with the O flag), looks up Ironic at an
// IPv6-literal ipa-api-url, heartbeats with a callback URL for that address
// (in brackets), and its API answers there. The network is a tap in the
// test's own network namespace, with the test as router, DHCPv6 server and
// Ironic: nothing reaches the host's network.
func TestIPv6Lookup(t *testing.T) {
	kernel, initrd := Images(t)
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("no tap devices: %v", err)
	}
	if !inNetns(t) {
		return
	}
	router := netip.MustParseAddr("fe80::1")
	ironicAddr := netip.MustParsePrefix("fd00::1/64")
	for i, tc := range []struct {
		name                  string
		slaac, managed, other bool
		wantAddr              string
		wantDHCP              dhcpv6.MessageType
	}{
		{"stateful DHCPv6", false, true, false, "fd00::100", dhcpv6.MessageTypeSolicit},
		// The kernel's EUI-64 address from DefaultMAC.
		{"SLAAC and stateless DHCPv6", true, false, true, "fd00::5054:ff:fe12:3456", dhcpv6.MessageTypeInformationRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A name of its own: Go's zone cache may still map an
			// earlier subtest's to its index.
			ifname := fmt.Sprintf("goipa6-%d", i)
			tap(t, ifname, netip.PrefixFrom(router, 64), ironicAddr)
			r, err := NewRouter6(Router6Options{Iface: ifname, Source: router, Prefix: ironicAddr.Masked(),
				SLAAC: tc.slaac, Managed: tc.managed, Other: tc.other,
				Lease: netip.MustParseAddr("fd00::100"), DNS: netip.MustParseAddr("fd00::53")})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()

			ironic, ironicURL, lookupFrom := ironicOn(t, "["+ironicAddr.Addr().String()+"]:0")
			node, err := ironic.AddNode(fakeironic.Node{Name: "ipv6", MACs: []string{DefaultMAC}, ProvisionState: fakeironic.StateDeployWait})
			if err != nil {
				t.Fatal(err)
			}
			vm := Start(t, Options{Kernel: kernel, Initrd: initrd, Tap: ifname,
				Append: "ipa-api-url=" + ironicURL})
			ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
			defer cancel()
			hb, err := ironic.WaitHeartbeat(ctx, node.UUID, 1)
			if err != nil {
				t.Fatal(err)
			}

			if from := lookupFrom(); from.Addr().Unmap().Is4() || !ironicAddr.Contains(from.Addr()) {
				t.Errorf("lookup came from %v, want an address in %v", from, ironicAddr)
			}
			u, err := url.Parse(hb.Body.CallbackURL)
			if err != nil || u.Host != "["+tc.wantAddr+"]:9999" {
				t.Fatalf("callback_url = %q, want one for [%s]:9999", hb.Body.CallbackURL, tc.wantAddr)
			}
			if seen := r.DHCPv6Seen(); !slices.Contains(seen, tc.wantDHCP) {
				t.Errorf("DHCPv6 messages %v, want a %v", seen, tc.wantDHCP)
			}
			if !strings.Contains(vm.Console(), "dns=[fd00::53]") {
				t.Error("the console does not show DHCPv6's DNS server")
			}
			// The agent's API at the callback URL, its certificate checked
			// against the agent_verify_ca it sent (auto TLS).
			c := &http.Client{Timeout: bootTimeout}
			if hb.Body.AgentVerifyCA != "" {
				pool := x509.NewCertPool()
				pool.AppendCertsFromPEM([]byte(hb.Body.AgentVerifyCA))
				c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
			}
			resp, err := c.Get(hb.Body.CallbackURL + "/v1/status")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s/v1/status: %s", hb.Body.CallbackURL, resp.Status)
			}
		})
	}
}

// ironicOn serves a fake Ironic on addr (an address of the test's network
// namespace; fakeironic.Start takes loopback only) and records where its
// first lookup came from. It returns the server, its URL and that.
func ironicOn(t *testing.T, addr string) (*fakeironic.Server, string, func() netip.AddrPort) {
	t.Helper()
	s, err := fakeironic.New(fakeironic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var from netip.AddrPort
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/lookup" {
			mu.Lock()
			if !from.IsValid() {
				from, _ = netip.ParseAddrPort(r.RemoteAddr)
			}
			mu.Unlock()
		}
		s.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return s, "http://" + ln.Addr().String(), func() netip.AddrPort {
		mu.Lock()
		defer mu.Unlock()
		return from
	}
}
