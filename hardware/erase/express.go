package erase

import (
	"context"
	"errors"
	"fmt"
)

// Express is IPA's erase_devices_express: after the same checks as
// MetadataDevices (read-only devices are skipped), NVMe drives get an NVMe
// format (if EnableNVMeSecureErase) and everything else, or an NVMe drive
// whose format fails, gets the metadata erase. Like IPA it uses no other
// hardware assist: ATA security erase takes hours, and BLKDISCARD neither
// guarantees zeros nor that data is gone.
func Express(ctx context.Context, devs []Device, opts Options) ([]Result, error) {
	results, todo, err := preflight(devs, &opts, true)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, i := range todo {
		m, err := expressOne(ctx, devs[i], &opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		results[i].Method = m
	}
	return results, errors.Join(errs...)
}

func expressOne(ctx context.Context, dev Device, o *Options) (Method, error) {
	d, err := openBlock(dev.Path)
	if err != nil {
		return "", err
	}
	defer d.Close()
	log := o.logger().With("device", dev.Path)
	rep := newReporter(o.Progress, dev.Path)
	var secureErr error
	if isNVMe(dev) && o.EnableNVMeSecureErase {
		m, err := nvmeErase(o, o.nvme(d.Fd), dev.Path, func(m Method) { rep.start(m, 1, d.Size) })
		if err == nil {
			return m, d.finishHardware(rep, m, log)
		}
		log.Error("NVMe format failed, erasing metadata instead", "error", err)
		secureErr = err
	}
	if err := d.wipeMetadata(ctx, o); err != nil {
		if secureErr != nil {
			return "", fmt.Errorf("%w; falling back to the metadata erase also failed: %w", secureErr, err)
		}
		return "", err
	}
	return MethodMetadata, nil
}
