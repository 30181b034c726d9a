// Package hardware reads the inventory (IPA's list_hardware_info, contract
// §5) with github.com/jaypipes/ghw, pointed at Root through ghw's context
// options (ghw.go): CPUs, memory, block devices and partitions, NICs, PCI
// devices and DMI. ghw takes a disk's model, serial, WWN and by-path (and a
// partition's labels) from udev's database, which the ramdisk does not
// have: this package reads the disk's from sysfs and the SCSI VPD pages
// itself (diskid.go, transport.go), as udev's rules would; the inventory
// carries no partition labels. It also reads what ghw has no notion of or
// reports otherwise than IPA: a disk's lsblk type, order, HCTL, transport
// and holders, a NIC's MAC, carrier and device link, the present CPUs and
// their frequency, the SMBIOS memory devices, a PCI device's NUMA node.
// Each of those readers says why. Beside the inventory: the inspection
// collectors' facts (extra-hardware, NUMA, DMI, USB), root device hints,
// LLDP and the BMC's LAN settings.
package hardware
