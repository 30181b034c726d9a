package hardware

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ethPLLDP is LLDP's ethertype.
const ethPLLDP = 0x88cc

// ParseLLDP splits an LLDPDU (the frame payload after the ethertype) into
// TLVs, stopping at the End TLV, as IPA reports them: [type, hex(value)].
func ParseLLDP(pdu []byte) ([]TLV, error) {
	var out []TLV
	for len(pdu) >= 2 {
		h := binary.BigEndian.Uint16(pdu)
		typ, n := int(h>>9), int(h&0x1ff)
		if len(pdu) < 2+n {
			return out, fmt.Errorf("LLDP TLV type %d: length %d past the frame end", typ, n)
		}
		if typ == 0 {
			return out, nil
		}
		out = append(out, TLV{Type: typ, Hex: hex.EncodeToString(pdu[2 : 2+n])})
		pdu = pdu[2+n:]
	}
	return out, nil
}

// CollectLLDP listens on every named interface for one LLDP frame, for at
// most timeout, and returns the TLVs per interface (interfaces that heard
// nothing are left out). Switches send LLDP every 30 s by default, hence
// IPA's 30 s lldp_timeout.
func CollectLLDP(ctx context.Context, ifaces []string, timeout time.Duration) map[string][]TLV {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var mu sync.Mutex
	out := map[string][]TLV{}
	var wg sync.WaitGroup
	for _, name := range ifaces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tlvs, err := listenLLDP(ctx, name)
			if err == nil {
				mu.Lock()
				out[name] = tlvs
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func listenLLDP(ctx context.Context, name string) ([]TLV, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, int(htons(ethPLLDP)))
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(ethPLLDP), Ifindex: ifi.Index}); err != nil {
		return nil, err
	}
	// LLDP goes to a multicast MAC the NIC may filter: join it.
	mreq := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_MULTICAST, Alen: 6,
		Address: [8]byte{0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e}}
	_ = unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq)
	buf := make([]byte, 9000)
	for {
		tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
		_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return ParseLLDP(buf[:n])
	}
}
