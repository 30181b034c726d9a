package ramdisk

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/vishvananda/netlink"
)

// ErrBadNetworkData reports a network_data.json this package cannot apply.
var ErrBadNetworkData = errors.New("invalid network_data.json")

// NetworkData is OpenStack's network_data.json, which Ironic puts on the
// virtual media ISO from the node's network_data (Metal3's
// preprovisioningNetworkData): links (NICs by MAC, bonds, VLANs), the
// networks configured on them, and services (DNS). IPA's ramdisks apply it
// with glean before the agent starts.
type NetworkData struct {
	Links    []NDLink    `json:"links"`
	Networks []NDNetwork `json:"networks"`
	Services []NDService `json:"services"`
}

// Link types besides a physical NIC; Nova names NICs phy, ethernet, vif,
// ovs, bridge, tap, hw_veb, ..., all of them a MAC to match (as glean does).
const (
	ndBond = "bond"
	ndVLAN = "vlan"
)

// NDLink is one entry of links.
type NDLink struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	MAC  string `json:"ethernet_mac_address"`
	MTU  int    `json:"mtu"`

	VLANID   int    `json:"vlan_id"`
	VLANLink string `json:"vlan_link"` // the id of the link it is on
	VLANMAC  string `json:"vlan_mac_address"`

	BondLinks          []string `json:"bond_links"` // member link ids
	BondMode           string   `json:"bond_mode"`
	BondMIIMon         int      `json:"bond_miimon"`
	BondXmitHashPolicy string   `json:"bond_xmit_hash_policy"`
}

// Network types: static addresses, or what the link is to ask for.
const (
	ndIPv4         = "ipv4"
	ndIPv6         = "ipv6"
	ndIPv4DHCP     = "ipv4_dhcp"
	ndIPv6DHCP     = "ipv6_dhcp"
	ndIPv6SLAAC    = "ipv6_slaac"
	ndIPv6Stateful = "ipv6_dhcpv6-stateful"
	ndIPv6Stateles = "ipv6_dhcpv6-stateless"
)

// NDNetwork is one entry of networks.
type NDNetwork struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Link string `json:"link"` // a link id
	// IPAddress may carry its prefix ("2001:db8::5/64"); else Netmask
	// gives it, dotted ("255.255.255.0", "ffff:ffff:ffff:ffff::") or as a
	// length.
	IPAddress      string    `json:"ip_address"`
	Netmask        string    `json:"netmask"`
	Routes         []NDRoute `json:"routes"`
	DNSNameservers []string  `json:"dns_nameservers"`
}

// NDRoute is a route of a static network; network 0.0.0.0 or :: with
// netmask of the same is the default route.
type NDRoute struct {
	Network string `json:"network"`
	Netmask string `json:"netmask"`
	Gateway string `json:"gateway"`
}

// NDService is one entry of services; only type dns is used.
type NDService struct {
	Type    string `json:"type"`
	Address string `json:"address"`
}

var bondModes = []string{"balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"}

// ParseNetworkData decodes and checks a network_data.json: every reference
// names a link, bonds have members and a known mode, VLANs an id, static
// networks an address. Errors wrap ErrBadNetworkData.
func ParseNetworkData(b []byte) (*NetworkData, error) {
	var nd NetworkData
	if err := json.Unmarshal(b, &nd); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadNetworkData, err)
	}
	links := map[string]*NDLink{}
	for i := range nd.Links {
		l := &nd.Links[i]
		if l.ID == "" || links[l.ID] != nil {
			return nil, fmt.Errorf("%w: link %d: missing or repeated id %q", ErrBadNetworkData, i, l.ID)
		}
		links[l.ID] = l
	}
	for _, l := range nd.Links {
		if err := checkLink(l, links); err != nil {
			return nil, fmt.Errorf("%w: link %s: %w", ErrBadNetworkData, l.ID, err)
		}
	}
	for i, n := range nd.Networks {
		if err := checkNetwork(n, links); err != nil {
			return nil, fmt.Errorf("%w: network %d (%s): %w", ErrBadNetworkData, i, n.ID, err)
		}
	}
	return &nd, nil
}

func checkLink(l NDLink, links map[string]*NDLink) error {
	switch l.Type {
	case ndVLAN:
		if l.VLANID < 1 || l.VLANID > 4094 {
			return fmt.Errorf("vlan_id %d out of 1-4094", l.VLANID)
		}
		p := links[l.VLANLink]
		if p == nil || p.Type == ndVLAN {
			return fmt.Errorf("vlan_link %q names no NIC or bond", l.VLANLink)
		}
		if l.VLANMAC != "" {
			if _, err := net.ParseMAC(l.VLANMAC); err != nil {
				return err
			}
		}
	case ndBond:
		if !slices.Contains(bondModes, l.BondMode) {
			return fmt.Errorf("bond_mode %q is none of %v", l.BondMode, bondModes)
		}
		if l.BondXmitHashPolicy != "" && netlink.StringToBondXmitHashPolicy(l.BondXmitHashPolicy) == netlink.BOND_XMIT_HASH_POLICY_UNKNOWN {
			return fmt.Errorf("bond_xmit_hash_policy %q unknown", l.BondXmitHashPolicy)
		}
		if len(l.BondLinks) == 0 {
			return errors.New("bond without bond_links")
		}
		for _, m := range l.BondLinks {
			if p := links[m]; p == nil || p.Type == ndBond || p.Type == ndVLAN {
				return fmt.Errorf("bond_links: %q names no NIC", m)
			}
		}
		if l.MAC != "" {
			if _, err := net.ParseMAC(l.MAC); err != nil {
				return err
			}
		}
	default:
		if _, err := net.ParseMAC(l.MAC); err != nil {
			return fmt.Errorf("ethernet_mac_address: %w", err)
		}
	}
	return nil
}

func checkNetwork(n NDNetwork, links map[string]*NDLink) error {
	if links[n.Link] == nil {
		return fmt.Errorf("link %q unknown", n.Link)
	}
	switch n.Type {
	case ndIPv4, ndIPv6:
		if _, err := ndAddress(n); err != nil {
			return err
		}
		for _, r := range n.Routes {
			if _, _, err := ndRoute(r); err != nil {
				return err
			}
		}
	case ndIPv4DHCP, ndIPv6DHCP, ndIPv6SLAAC, ndIPv6Stateful, ndIPv6Stateles:
	default:
		return fmt.Errorf("type %q unknown", n.Type)
	}
	return nil
}
