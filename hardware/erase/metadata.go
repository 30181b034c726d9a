package erase

import (
	"context"
	"errors"
	"fmt"
)

// Metadata is IPA's destroy_disk_metadata for one device, done in Go: it
// reads the partition tables, then zeroes the device's first and last MiB,
// the same for every partition found, the few signature places blkid
// probes deeper than that, and any table structure elsewhere (a backup GPT
// left mid-disk by a smaller image, logical-partition boot records).
// Afterwards neither wipefs nor blkid finds a signature on the device or
// where its partitions were; data between those areas is left alone, which
// is what makes this erase fast. Pass whole disks; partitions are handled
// through the disk. Refusals are Check's errors.
func Metadata(ctx context.Context, dev Device, opts Options) error {
	if err := Check(dev, opts); err != nil {
		return err
	}
	return metadata(ctx, dev.Path, &opts)
}

func metadata(ctx context.Context, path string, o *Options) error {
	d, err := openBlock(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.wipeMetadata(ctx, o)
}

func (d *blockDev) wipeMetadata(ctx context.Context, o *Options) error {
	l, err := readLayout(d, d.Size, d.LSS)
	if err != nil {
		return fmt.Errorf("%s: reading partition tables: %w", d.Path, err)
	}
	plan := wipePlan(d.Size, d.LSS, l)
	var n int64
	for _, s := range plan {
		n += s.n
	}
	if err := d.zero(ctx, plan); err != nil {
		return err
	}
	if err := d.Flush(); err != nil {
		return err
	}
	d.rereadPartitions(o.logger())
	o.logger().Info("erased disk metadata", "device", d.Path, "partitions", len(l.parts), "ranges", len(plan), "bytes", n)
	return nil
}

// MetadataDevices is IPA's erase_devices_metadata: it checks every device
// first, skipping virtual media, RAID members and read-only devices as IPA
// does, and fails without erasing anything if another check fails. It then
// erases each device's metadata in turn, carrying on past failures, which
// it reports together.
func MetadataDevices(ctx context.Context, devs []Device, opts Options) ([]Result, error) {
	results, todo, err := preflight(devs, &opts, true)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, i := range todo {
		if err := metadata(ctx, devs[i].Path, &opts); err != nil {
			errs = append(errs, err)
			continue
		}
		results[i].Method = MethodMetadata
	}
	return results, errors.Join(errs...)
}

// preflight checks all devices before any is touched. It returns one
// result per device (skipped ones filled in), the indexes to erase, and
// every refusal joined.
func preflight(devs []Device, o *Options, skipReadOnly bool) ([]Result, []int, error) {
	results := make([]Result, len(devs))
	var todo []int
	var errs []error
	for i, dev := range devs {
		results[i].Device = dev.Path
		err := Check(dev, *o)
		switch {
		case err == nil:
			todo = append(todo, i)
		case skippable(err, skipReadOnly):
			o.logger().Info("skipping device", "device", dev.Path, "error", err)
			results[i].Skipped = err
		default:
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("refusing to erase: %w", errors.Join(errs...))
	}
	return results, todo, nil
}
