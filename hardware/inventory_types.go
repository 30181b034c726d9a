package hardware

import (
	"encoding/json"
	"fmt"
)

// The structs in this file are the inventory exactly as IPA's
// list_hardware_info() serialises it (contract §5): every field IPA sends is
// always present, and pointers stand for the values IPA sends as null.

// InventoryData is the inventory sent on lookup and inspection.
type InventoryData struct {
	Interfaces   []Interface   `json:"interfaces"`
	CPU          CPU           `json:"cpu"`
	Disks        []BlockDevice `json:"disks"`
	Memory       Memory        `json:"memory"`
	BMCAddress   *string       `json:"bmc_address"`
	BMCV6Address *string       `json:"bmc_v6address"`
	BMCMAC       *string       `json:"bmc_mac,omitempty"` // IPA leaves the key out when unknown
	SystemVendor SystemVendor  `json:"system_vendor"`
	Boot         Boot          `json:"boot"`
	Hostname     string        `json:"hostname"`
}

// Interface is one NIC.
type Interface struct {
	Name        string  `json:"name"`
	MACAddress  string  `json:"mac_address"`
	IPv4Address *string `json:"ipv4_address"`
	IPv6Address *string `json:"ipv6_address"`
	HasCarrier  bool    `json:"has_carrier"`
	LLDP        []TLV   `json:"lldp"`
	Vendor      *string `json:"vendor"`  // PCI vendor ID, "0x8086"
	Product     *string `json:"product"` // PCI device ID, "0x1572"
	ClientID    *string `json:"client_id"`
	BIOSDevName *string `json:"biosdevname"`
	SpeedMbps   *int    `json:"speed_mbps"`
	PCIAddress  *string `json:"pci_address"`
	Driver      *string `json:"driver"`
}

// TLV is one LLDP type-length-value, sent as [type, "hex of the value"].
type TLV struct {
	Type int
	Hex  string
}

// MarshalJSON implements json.Marshaler.
func (t TLV) MarshalJSON() ([]byte, error) { return json.Marshal([]any{t.Type, t.Hex}) }

// UnmarshalJSON implements json.Unmarshaler.
func (t *TLV) UnmarshalJSON(b []byte) error {
	var pair []json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil {
		return err
	}
	if len(pair) != 2 {
		return fmt.Errorf("lldp tlv %s: want [type, hex]", b)
	}
	if err := json.Unmarshal(pair[0], &t.Type); err != nil {
		return err
	}
	return json.Unmarshal(pair[1], &t.Hex)
}

// CPU is lscpu's summary. Frequency is a string ("3400.0000"), as IPA
// copies it from lscpu; consumers (gophercloud, metal3) rely on that.
type CPU struct {
	ModelName    string   `json:"model_name"`
	Frequency    string   `json:"frequency"`
	Count        int      `json:"count"`
	Architecture string   `json:"architecture"`
	Flags        []string `json:"flags"`
	SocketCount  int      `json:"socket_count"`
}

// BlockDevice is one disk as IPA's BlockDevice serialises it. The fields
// without a JSON name are goipa's own: IPA keeps them out of the inventory.
type BlockDevice struct {
	Name               string  `json:"name"` // /dev/sda
	Model              *string `json:"model"`
	Size               int64   `json:"size"` // bytes
	Rotational         bool    `json:"rotational"`
	WWN                *string `json:"wwn"`
	Serial             *string `json:"serial"`
	Vendor             *string `json:"vendor"`
	WWNWithExtension   *string `json:"wwn_with_extension"`
	WWNVendorExtension *string `json:"wwn_vendor_extension"`
	HCTL               *string `json:"hctl"`
	ByPath             *string `json:"by_path"`
	LogicalSectors     *int    `json:"logical_sectors"`
	PhysicalSectors    *int    `json:"physical_sectors"`
	Tran               *string `json:"tran"`

	// Type is lsblk's TYPE: disk, part, raid1 (any md level), md (an md
	// partition), mpath.
	Type      string   `json:"-"`
	ReadOnly  bool     `json:"-"`
	Removable bool     `json:"-"`
	Holders   []string `json:"-"` // /dev names of devices built on this one (md0, dm-0)
	Slaves    []string `json:"-"` // /dev names this device is built on (md: sda1, sdb1)
	// Disks are the whole disks under Slaves (sda for sda1); set for md
	// and multipath devices, so excluding a RAID volume can exclude them.
	Disks []string `json:"-"`
	// Parent is the whole disk of a partition.
	Parent string `json:"-"`
}

// Memory is the RAM: Total as the kernel sees it (bytes) and PhysicalMB as
// installed (MiB), or null when unknown.
type Memory struct {
	Total      int64 `json:"total"`
	PhysicalMB *int  `json:"physical_mb"`
}

// SystemVendor comes from DMI.
type SystemVendor struct {
	ProductName  string   `json:"product_name"`
	SerialNumber string   `json:"serial_number"`
	Manufacturer string   `json:"manufacturer"`
	Firmware     Firmware `json:"firmware"`
}

// Firmware is the BIOS/UEFI firmware.
type Firmware struct {
	Vendor    string `json:"vendor"`
	Version   string `json:"version"`
	BuildDate string `json:"build_date"`
}

// Boot is how this ramdisk was booted.
type Boot struct {
	CurrentBootMode string  `json:"current_boot_mode"` // "uefi" or "bios"
	PXEInterface    *string `json:"pxe_interface"`     // raw BOOTIF value
}
