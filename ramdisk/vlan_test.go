package ramdisk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/hardware"
	"github.com/goipa/goipa/tstest/dhcptest"
)

// netnsChild marks the test binary run inside the test's own network and
// mount namespaces.
const netnsChild = "GOIPA_TEST_NETNS_CHILD"

// TestVLANLease: a VLAN the agent adds (hardware.AddVLAN, as for
// ipa-enable-vlan-interfaces=eth.100) comes up, gets a DHCP lease over the
// tagged link, and is in the inventory under its own name with its
// parent's MAC and the leased address. The test runs itself again in a
// network namespace of its own (a veth pair: the agent's end, and a DHCP
// server on a VLAN of the other end) with a private mount namespace whose
// /sys shows that network namespace; the host's interfaces are never
// touched.
func TestVLANLease(t *testing.T) {
	if os.Getenv(netnsChild) == "" {
		if os.Geteuid() != 0 {
			t.Skip("network namespaces need root")
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestVLANLease$", "-test.v")
		cmd.Env = append(os.Environ(), netnsChild+"=1")
		cmd.SysProcAttr = &unix.SysProcAttr{Cloneflags: unix.CLONE_NEWNET | unix.CLONE_NEWNS}
		out, err := cmd.CombinedOutput()
		t.Logf("in the namespace:\n%s", out)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(out, []byte("--- SKIP")) {
			t.Skip("skipped in the namespace")
		}
		return
	}
	// Mounts stay in this namespace: nothing propagates to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("sysfs", "/sys", "sysfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	mac, _ := net.ParseMAC("52:54:00:aa:bb:01")
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "agent0", HardwareAddr: mac}, PeerName: "switch0"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	sw, err := netlink.LinkByName("switch0")
	if err != nil {
		t.Fatal(err)
	}
	swVLAN := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: "switch0.100", ParentIndex: sw.Attrs().Index}, VlanId: 100}
	if err := netlink.LinkAdd(swVLAN); errors.Is(err, unix.EOPNOTSUPP) {
		t.Skip("this kernel has no 802.1Q VLANs (8021q)")
	} else if err != nil {
		t.Fatal(err)
	}
	for _, l := range []netlink.Link{veth, sw, swVLAN} {
		if err := netlink.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	serverIP := net.IPv4(192, 0, 2, 1)
	if err := netlink.AddrAdd(swVLAN, &netlink.Addr{IPNet: &net.IPNet{IP: serverIP, Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatal(err)
	}
	srv := dhcpServer(t, "switch0.100", serverIP, net.IPv4(192, 0, 2, 50))
	go srv.Serve()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	d := &dhcpRun{log: log, bootMAC: mac, primary: make(chan *dhcpv4.DHCPv4, 1)}
	if err := d.watchVLANs(ctx); err != nil {
		t.Fatal(err)
	}
	if err := hardware.AddVLAN(hardware.VLAN{Parent: "agent0", ID: 100}); err != nil {
		t.Fatal(err)
	}
	for {
		ifs, err := hardware.Interfaces(hardware.Root{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range ifs {
			if i.Name == "agent0.100" && i.IPv4Address != nil {
				if *i.IPv4Address != "192.0.2.50" || i.MACAddress != mac.String() || !i.HasCarrier {
					t.Fatalf("inventory has %+v (ipv4 %s), want agent0.100 with 192.0.2.50, MAC %s, carrier", i, *i.IPv4Address, mac)
				}
				select {
				case <-d.primary:
					t.Error("a VLAN's lease was taken for the primary one")
				default:
				}
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no lease on agent0.100; interfaces %+v", ifs)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// dhcpServer answers every DISCOVER and REQUEST on ifname with addr,
// broadcast, as the client has no address yet.
func dhcpServer(t *testing.T, ifname string, server, addr net.IP) *server4.Server {
	t.Helper()
	handler := func(conn net.PacketConn, _ net.Addr, m *dhcpv4.DHCPv4) {
		resp, err := dhcptest.Reply(m, dhcptest.Net{Server: server, Lease: addr})
		if err != nil || resp == nil {
			return
		}
		if _, err := conn.WriteTo(resp.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}); err != nil {
			t.Error(err)
		}
	}
	srv, err := server4.NewServer(ifname, &net.UDPAddr{IP: net.IPv4zero, Port: dhcpv4.ServerPort}, handler)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}
