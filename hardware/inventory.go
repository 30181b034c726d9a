package hardware

import (
	"fmt"
	"os"

	"github.com/jaypipes/ghw"
	"golang.org/x/sys/unix"
)

// InventoryOptions tunes Inventory.
type InventoryOptions struct {
	Root Root
	// BootIf is the raw BOOTIF kernel argument, reported as
	// boot.pxe_interface (null when empty).
	BootIf string
	// SkipBMC leaves bmc_address and bmc_v6address null without asking
	// the BMC (the node's skip_bmc_detect).
	SkipBMC bool
	// LLDP holds the TLVs collected per interface; interfaces without
	// an entry report lldp null.
	LLDP map[string][]TLV
	// Hostname overrides os.Hostname.
	Hostname string
}

// Inventory collects IPA's list_hardware_info() (contract §5).
func Inventory(opts InventoryOptions) (*InventoryData, error) {
	r := opts.Root
	ifaces, err := Interfaces(r, opts.LLDP)
	if err != nil {
		return nil, err
	}
	disks, err := ListBlockDevices(BlockOptions{Root: r})
	if err != nil {
		return nil, err
	}
	if disks == nil {
		disks = []BlockDevice{}
	}
	cpu, err := CPUInfo(r)
	if err != nil {
		return nil, err
	}
	mem, err := MemoryInfo(r)
	if err != nil {
		return nil, err
	}
	inv := &InventoryData{
		Interfaces:   ifaces,
		CPU:          cpu,
		Disks:        disks,
		Memory:       mem,
		SystemVendor: SystemVendorInfo(r),
		Boot:         BootInfo(r, opts.BootIf),
		Hostname:     opts.Hostname,
	}
	if inv.Hostname == "" {
		if inv.Hostname, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("hostname: %w", err)
		}
	}
	if !opts.SkipBMC {
		inv.BMCAddress, inv.BMCV6Address, inv.BMCMAC = BMC(r)
	}
	return inv, nil
}

// BootInfo reports the boot mode and the PXE interface.
func BootInfo(r Root, bootIf string) Boot {
	b := Boot{CurrentBootMode: "bios"}
	if dirExists(r.sys("firmware/efi")) {
		b.CurrentBootMode = "uefi"
	}
	if bootIf != "" {
		b.PXEInterface = &bootIf
	}
	return b
}

// SystemVendorInfo reads DMI through ghw (the device tree's model on boards
// without DMI); what is missing (serials readable by root only) is "", as
// IPA reports it from lshw.
func SystemVendorInfo(r Root) SystemVendor {
	var v SystemVendor
	ctx := r.ghw()
	if p, err := ghw.Product(ctx); err == nil {
		v.ProductName, v.SerialNumber, v.Manufacturer = known(p.Name), known(p.SerialNumber), known(p.Vendor)
	}
	if b, err := ghw.BIOS(ctx); err == nil {
		v.Firmware = Firmware{Vendor: known(b.Vendor), Version: known(b.Version), BuildDate: known(b.Date)}
	}
	return v
}

// architecture is uname's machine, as lscpu reports it.
func architecture() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Machine[:])
}
