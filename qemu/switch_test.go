package qemu

import (
	"net"
	"slices"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/goipa/goipa/hardware"
)

// TestSwitchFrames: the switch's LLDP reads back as the agent parses it,
// and its DHCP replies, tagged or not, read back as requests would.
func TestSwitchFrames(t *testing.T) {
	s := &Switch{vlans: map[int]SwitchNet{0: {}, 100: {}}}
	f := s.lldp()
	tlvs, err := hardware.ParseLLDP(f[14:])
	if err != nil {
		t.Fatal(err)
	}
	if got := hardware.LLDPVLANs(tlvs); !slices.Equal(got, []int{100}) {
		t.Errorf("LLDP VLANs %v, want [100]", got)
	}
	mac, _ := net.ParseMAC(DefaultMAC)
	disc, err := dhcpv4.NewDiscovery(mac)
	if err != nil {
		t.Fatal(err)
	}
	sn := SwitchNet{Server: net.IPv4(198, 51, 100, 1), Lease: net.IPv4(198, 51, 100, 15)}
	for _, vlan := range []int{0, 100} {
		reply := dhcpReply(disc.ToBytes(), sn)
		if reply == nil {
			t.Fatal("no offer")
		}
		fr := frame(vlan, sn.Server, reply)
		// Read back as the switch reads a request: swap the ports.
		ihl := 14 + 20
		if vlan != 0 {
			ihl += 4
		}
		fr[ihl+2], fr[ihl+3] = fr[ihl], fr[ihl+1]
		gotVLAN, payload, ok := dhcpRequest(fr)
		if !ok || gotVLAN != vlan {
			t.Fatalf("VLAN %d: read back %d, %v", vlan, gotVLAN, ok)
		}
		m, err := dhcpv4.FromBytes(payload)
		if err != nil || m.MessageType() != dhcpv4.MessageTypeOffer || !m.YourIPAddr.Equal(sn.Lease) || m.TransactionID != disc.TransactionID {
			t.Errorf("VLAN %d: offer %v, %v", vlan, m, err)
		}
		if ipChecksum(fr[ihl-20:ihl]) != 0 {
			t.Errorf("VLAN %d: bad IPv4 header checksum", vlan)
		}
	}
}
