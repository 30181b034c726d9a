// Package disk writes deploy images onto block devices and applies the fixes
// IPA makes afterwards: moving the GPT backup header to the end of the disk,
// reporting partition UUIDs, and adding a config drive partition.
//
// A typical whole-disk deploy:
//
//	d, err := disk.Open("/dev/sda", disk.Options{})
//	_ = d.PrepareZero(ctx) // optional: lets the writer skip zero blocks
//	w, err := d.Writer(ctx, disk.WriterOptions{ImageSize: n})
//	io.Copy(w, image)
//	stats, err := w.Finish()
//	d.FixGPT()
//	d.RereadPartitions()
//	d.WriteConfigDrive(ctx, iso, disk.ConfigDriveOptions{})
//	uuids, err := d.PartitionUUIDs()
//
// Open refuses devices that are mounted, held (md, dm, LVM) or read-only, so
// a wrong root-device choice fails before any byte is written.
package disk
