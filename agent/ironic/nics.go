package ironic

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/goipa/goipa/hardware"
)

// PermAddrFunc returns the permanent MAC address of a network interface.
// PermAddr is the real one.
type PermAddrFunc func(ifname string) (net.HardwareAddr, error)

// MACs returns the MAC addresses to look the node up by: one per physical
// NIC (an interface under <sysfsRoot>/class/net with a device link) and per
// VLAN link (name.N, which IPA's inventory lists and lookup sends),
// preferring the permanent address from perm and falling back to the
// current one. Addresses starting with "fa:" are dropped as IPA does; the
// result is lowercase, sorted and without duplicates. perm may be nil.
func MACs(log *slog.Logger, sysfsRoot string, perm PermAddrFunc) ([]string, error) {
	dir := filepath.Join(sysfsRoot, "class", "net")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing NICs: %w", err)
	}
	var macs []string
	for _, e := range ents {
		name := e.Name()
		if _, err := os.Stat(filepath.Join(dir, name, "device")); err != nil && !hardware.IsVLANName(name) {
			continue // virtual: lo, bridges, bonds, …
		}
		mac := nicMAC(log, dir, name, perm)
		if mac == "" || strings.HasPrefix(mac, "fa:") {
			continue
		}
		macs = append(macs, mac)
	}
	slices.Sort(macs)
	return slices.Compact(macs), nil
}

// nicMAC returns the normalised MAC of one interface, or "" if it has none.
func nicMAC(log *slog.Logger, dir, name string, perm PermAddrFunc) string {
	if perm != nil {
		hw, err := perm(name)
		if err != nil {
			log.Debug("ironic: no permanent MAC, using the current one", "nic", name, "error", err)
		} else if !isZero(hw) {
			return strings.ToLower(hw.String())
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, name, "address"))
	if err != nil {
		log.Debug("ironic: NIC without a readable address", "nic", name, "error", err)
		return ""
	}
	hw, err := net.ParseMAC(strings.TrimSpace(string(b)))
	if err != nil || isZero(hw) {
		return ""
	}
	return strings.ToLower(hw.String())
}

func isZero(hw net.HardwareAddr) bool {
	for _, b := range hw {
		if b != 0 {
			return false
		}
	}
	return true
}
