package ironic

import (
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxAddrLen is the kernel's MAX_ADDR_LEN.
const maxAddrLen = 32

// ethtoolPermAddr is struct ethtool_perm_addr with room for the address.
type ethtoolPermAddr struct {
	cmd  uint32
	size uint32
	data [maxAddrLen]byte
}

// ifreqPtr is struct ifreq carrying a pointer in its union, padded beyond
// the kernel's size of the struct.
type ifreqPtr struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24]byte
}

// PermAddr returns the permanent (factory) MAC address of interface ifname
// via the ETHTOOL_GPERMADDR ioctl. Devices without one report all zeros.
func PermAddr(ifname string) (net.HardwareAddr, error) {
	if len(ifname) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("permanent address of %q: interface name too long", ifname)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("permanent address of %s: %w", ifname, err)
	}
	defer unix.Close(fd)

	pa := &ethtoolPermAddr{cmd: unix.ETHTOOL_GPERMADDR, size: maxAddrLen}
	ifr := &ifreqPtr{data: unsafe.Pointer(pa)}
	copy(ifr.name[:], ifname)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(ifr))); errno != 0 {
		return nil, fmt.Errorf("permanent address of %s: ETHTOOL_GPERMADDR: %w", ifname, errno)
	}
	if pa.size > maxAddrLen {
		return nil, fmt.Errorf("permanent address of %s: kernel reports %d bytes", ifname, pa.size)
	}
	return net.HardwareAddr(append([]byte(nil), pa.data[:pa.size]...)), nil
}
