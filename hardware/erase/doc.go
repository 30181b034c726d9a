// Package erase implements IPA's disk cleaning steps: erase_devices_metadata
// (Metadata, MetadataDevices), erase_devices (Devices), erase_devices_express
// (Express) and erase_pstore (Pstore), with IPA's safety checks (Check).
//
// Devices are given by the caller (the agent's block device listing), so
// this package never picks a disk on its own. Every erase refuses, with
// an error wrapping one of the sentinel errors, a device that is mounted,
// used by md/device-mapper, read-only, virtual media, or holds a shared-disk
// cluster filesystem. The *Devices functions turn the refusals IPA treats as
// "skip" (virtual media, RAID members, read-only devices where allowed) into
// skipped results and check every device before touching any.
//
// The metadata erase runs in Go, without wipefs or sgdisk: it zeroes the
// first and last MiB of the device and of every partition its GPT or MBR
// lists, plus the few deeper places blkid looks for signatures; secure
// erase goes through NVMe admin commands (hardware/nvme) and ATA
// PASS-THROUGH (hardware/ata), without nvme-cli or hdparm; the
// overwrite fallback (IPA's shred) writes an AES-CTR stream and zeroes with
// BLKZEROOUT.
package erase
