package qemu

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/goipa/goipa/tstest/dhcptest"
)

// Switch plays a switch port and its networks for one VM NIC wired to a UDP
// socket (NIC.UDP): it announces VLANs over LLDP, as a top-of-rack switch
// does on a trunk port, and answers DHCP untagged and on each VLAN, so a
// test can see VLAN links come up and get their leases, which QEMU's user
// network (untagged only) cannot show. It speaks to 127.0.0.1 only.
type Switch struct {
	conn  *net.UDPConn
	vlans map[int]SwitchNet // 0: untagged

	mu   sync.Mutex
	peer *net.UDPAddr // QEMU's end, learnt from its first frame
	done chan struct{}
}

// SwitchNet is one network behind the port: the DHCP server's address and
// the one address it leases, in a /24.
type SwitchNet = dhcptest.Net

var switchMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0xff, 0x00, 0x01}

// NewSwitch listens on 127.0.0.1 for the VM's frames; nets maps a VLAN ID
// (0 untagged) to its network; the tagged ones are announced over LLDP.
func NewSwitch(nets map[int]SwitchNet) (*Switch, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	s := &Switch{conn: conn, vlans: nets, done: make(chan struct{})}
	go s.serve()
	go s.announce()
	return s, nil
}

// Addr is where QEMU sends the NIC's frames (NIC.UDP).
func (s *Switch) Addr() string { return s.conn.LocalAddr().String() }

// Close stops the switch.
func (s *Switch) Close() error {
	close(s.done)
	return s.conn.Close()
}

func (s *Switch) serve() {
	buf := make([]byte, 65536)
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.peer = from
		s.mu.Unlock()
		vlan, payload, ok := dhcpRequest(buf[:n])
		if !ok {
			continue
		}
		sn, ok := s.vlans[vlan]
		if !ok {
			continue
		}
		if reply := dhcpReply(payload, sn); reply != nil {
			s.send(frame(vlan, sn.Server, reply))
		}
	}
}

// announce sends LLDP every second, as soon as QEMU's end is known.
func (s *Switch) announce() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.send(s.lldp())
		}
	}
}

func (s *Switch) send(f []byte) {
	s.mu.Lock()
	peer := s.peer
	s.mu.Unlock()
	if peer != nil {
		_, _ = s.conn.WriteToUDP(f, peer)
	}
}

// lldp is an LLDPDU with the chassis, port, TTL and one IEEE 802.1 VLAN
// Name TLV per tagged network.
func (s *Switch) lldp() []byte {
	f := append([]byte{0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e}, switchMAC...)
	f = append(f, 0x88, 0xcc)
	f = appendTLV(f, 1, append([]byte{4}, switchMAC...)) // chassis ID: MAC
	f = appendTLV(f, 2, append([]byte{5}, "swp1"...))    // port ID: interface name
	f = appendTLV(f, 3, []byte{0, 120})                  // TTL
	for id := range s.vlans {
		if id == 0 {
			continue
		}
		name := fmt.Sprintf("vlan%d", id)
		v := []byte{0x00, 0x80, 0xc2, 0x03, byte(id >> 8), byte(id), byte(len(name))}
		f = appendTLV(f, 127, append(v, name...))
	}
	return appendTLV(f, 0, nil)
}

func appendTLV(f []byte, typ int, v []byte) []byte {
	f = binary.BigEndian.AppendUint16(f, uint16(typ)<<9|uint16(len(v)))
	return append(f, v...)
}

// dhcpRequest returns the VLAN (0 untagged) and the DHCP payload of a
// frame carrying UDP to port 67.
func dhcpRequest(f []byte) (int, []byte, bool) {
	if len(f) < 14 {
		return 0, nil, false
	}
	vlan, typ, p := 0, binary.BigEndian.Uint16(f[12:]), f[14:]
	if typ == 0x8100 {
		if len(p) < 4 {
			return 0, nil, false
		}
		vlan, typ, p = int(binary.BigEndian.Uint16(p)&0xfff), binary.BigEndian.Uint16(p[2:]), p[4:]
	}
	if typ != 0x0800 || len(p) < 20 || p[9] != 17 {
		return 0, nil, false
	}
	ihl := int(p[0]&0xf) * 4
	if len(p) < ihl+8 || binary.BigEndian.Uint16(p[ihl+2:]) != dhcpv4.ServerPort {
		return 0, nil, false
	}
	return vlan, p[ihl+8:], true
}

// dhcpReply answers a DISCOVER or REQUEST; nil for anything else.
func dhcpReply(payload []byte, n SwitchNet) []byte {
	m, err := dhcpv4.FromBytes(payload)
	if err != nil {
		return nil
	}
	r, err := dhcptest.Reply(m, n)
	if err != nil || r == nil {
		return nil
	}
	return r.ToBytes()
}

// frame broadcasts a DHCP reply from server on the VLAN (0 untagged); the
// client has no address yet.
func frame(vlan int, server net.IP, dhcp []byte) []byte {
	f := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, switchMAC...)
	if vlan != 0 {
		f = binary.BigEndian.AppendUint16(f, 0x8100)
		f = binary.BigEndian.AppendUint16(f, uint16(vlan))
	}
	f = binary.BigEndian.AppendUint16(f, 0x0800)
	ip := make([]byte, 20)
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(dhcp)))
	copy(ip[12:], server.To4())
	copy(ip[16:], net.IPv4bcast.To4())
	binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
	f = append(f, ip...)
	f = binary.BigEndian.AppendUint16(f, dhcpv4.ServerPort)
	f = binary.BigEndian.AppendUint16(f, dhcpv4.ClientPort)
	f = binary.BigEndian.AppendUint16(f, uint16(8+len(dhcp)))
	f = binary.BigEndian.AppendUint16(f, 0) // no UDP checksum (IPv4 allows it)
	return append(f, dhcp...)
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
