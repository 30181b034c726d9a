package hardware

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// VLAN is a tagged link to create on a parent interface.
type VLAN struct {
	Parent string
	ID     int
}

// Name is the link's name as IPA gives it: parent.id.
func (v VLAN) Name() string { return v.Parent + "." + strconv.Itoa(v.ID) }

// lldpVLANPrefix is the hex of an IEEE 802.1 organisationally specific
// TLV's OUI (00-80-c2) and its VLAN Name subtype (3), which a switch sends
// for each VLAN of the port; the VLAN ID follows in two bytes.
const lldpVLANPrefix = "0080c203"

// tlvOrgSpecific is LLDP's organisationally specific TLV type.
const tlvOrgSpecific = 127

// ErrBadVLAN reports an enable_vlan_interfaces entry that names no VLAN.
var ErrBadVLAN = errors.New("bad VLAN interface")

// WantedVLANs resolves enable_vlan_interfaces against the interfaces, as
// IPA's bring_up_vlan_interfaces does: "iface.vlan" (iface a name or a MAC)
// is that VLAN; "iface" or "all" are the VLANs the switch announced over
// LLDP on that interface or on all of them, which needs collect_lldp.
// VLANs that exist already are left out. Entries that resolve to nothing
// are logged and skipped, as IPA does.
func WantedVLANs(log *slog.Logger, spec []string, ifaces []Interface, collectLLDP bool) []VLAN {
	have := map[string]bool{}
	for _, i := range ifaces {
		have[i.Name] = true
	}
	var out []VLAN
	add := func(v VLAN) {
		if !have[v.Name()] {
			have[v.Name()] = true
			out = append(out, v)
		}
	}
	for _, s := range spec {
		s = strings.TrimSpace(s)
		switch parent, vlan, dotted := strings.Cut(s, "."); {
		case s == "":
		case dotted:
			id, err := strconv.Atoi(vlan)
			if err != nil || id < 1 || id > 4094 {
				log.Warn("VLAN interface ignored", "entry", s, "error", ErrBadVLAN)
				continue
			}
			i := findInterface(ifaces, parent)
			if i == nil {
				log.Warn("VLAN interface ignored: no such interface", "entry", s)
				continue
			}
			add(VLAN{Parent: i.Name, ID: id})
		case !collectLLDP:
			log.Warn("VLAN interfaces from LLDP need collect_lldp", "entry", s)
		case s == "all":
			for _, i := range ifaces {
				for _, id := range LLDPVLANs(i.LLDP) {
					add(VLAN{Parent: i.Name, ID: id})
				}
			}
		default:
			i := findInterface(ifaces, s)
			if i == nil || len(i.LLDP) == 0 {
				log.Warn("VLAN interfaces ignored: no LLDP from interface", "entry", s)
				continue
			}
			for _, id := range LLDPVLANs(i.LLDP) {
				add(VLAN{Parent: i.Name, ID: id})
			}
		}
	}
	return out
}

// findInterface finds an interface by name or MAC (any case).
func findInterface(ifaces []Interface, key string) *Interface {
	for k := range ifaces {
		if ifaces[k].Name == key || strings.EqualFold(ifaces[k].MACAddress, key) {
			return &ifaces[k]
		}
	}
	return nil
}

// LLDPVLANs returns the VLAN IDs of a port's 802.1 VLAN Name TLVs.
func LLDPVLANs(tlvs []TLV) []int {
	var ids []int
	for _, t := range tlvs {
		if t.Type != tlvOrgSpecific || len(t.Hex) < len(lldpVLANPrefix)+4 ||
			!strings.EqualFold(t.Hex[:len(lldpVLANPrefix)], lldpVLANPrefix) {
			continue
		}
		id, err := strconv.ParseUint(t.Hex[len(lldpVLANPrefix):len(lldpVLANPrefix)+4], 16, 16)
		if err == nil && id > 0 {
			ids = append(ids, int(id))
		}
	}
	return ids
}

// AddVLAN creates the VLAN link (one that exists already is kept, as IPA's
// `ip link add` tolerates) and sets it up. The ramdisk runs DHCP on it.
func AddVLAN(v VLAN) error {
	parent, err := netlink.LinkByName(v.Parent)
	if err != nil {
		return fmt.Errorf("VLAN %s: %w", v.Name(), err)
	}
	l := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: v.Name(), ParentIndex: parent.Attrs().Index}, VlanId: v.ID}
	if err := netlink.LinkAdd(l); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("VLAN %s: %w", v.Name(), err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("VLAN %s up: %w", v.Name(), err)
	}
	return nil
}

// IsVLANName says whether name is a VLAN link's name as IPA gives them:
// parent.id.
func IsVLANName(name string) bool {
	_, id, _ := strings.Cut(name, ".")
	return id != "" && strings.Trim(id, "0123456789") == ""
}
