package erase

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// Devices is IPA's erase_devices: every device is checked first (virtual
// media and RAID members are skipped, read-only devices too with
// SkipReadOnly; any other refusal fails the call before anything is
// erased), then up to Concurrency devices are erased at once, each with
// the best method available: NVMe format (cryptographic erase if
// supported), ATA security erase (enhanced if supported), or overwriting
// (Iterations random passes, then zeros if Zeroize). A failed secure erase
// falls back to overwriting only with ContinueIfSecureEraseFailed. Every
// device is attempted; the failures are returned together.
func Devices(ctx context.Context, devs []Device, opts Options) ([]Result, error) {
	results, todo, err := preflight(devs, &opts, opts.SkipReadOnly)
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(devs))
	sem := make(chan struct{}, max(1, opts.Concurrency))
	var wg sync.WaitGroup
	for _, i := range todo {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i].Method, errs[i] = eraseDevice(ctx, devs[i], &opts)
		})
	}
	wg.Wait()
	return results, errors.Join(errs...)
}

func eraseDevice(ctx context.Context, dev Device, o *Options) (Method, error) {
	log := o.logger().With("device", dev.Path)
	// Held open exclusively throughout, so nothing mounts or assembles it
	// meanwhile; the NVMe and ATA commands go through this same file.
	d, err := openBlock(dev.Path)
	if err != nil {
		return "", err
	}
	defer d.Close()
	rep := newReporter(o.Progress, dev.Path)

	begin := func(m Method) { rep.start(m, 1, d.Size) }
	var secureErr error
	switch {
	case isNVMe(dev) && o.EnableNVMeSecureErase:
		m, err := nvmeErase(o, o.nvme(d.Fd), dev.Path, begin)
		if err == nil {
			return m, d.finishHardware(rep, m, log)
		}
		secureErr = err
	case !isNVMe(dev) && o.EnableATASecureErase:
		m, ok, err := ataErase(o, o.ata(d.Fd), dev.Path, begin)
		if ok && err == nil {
			return m, d.finishHardware(rep, m, log)
		}
		secureErr = err
	}
	if secureErr != nil {
		if !o.ContinueIfSecureEraseFailed {
			return "", fmt.Errorf("%w (falling back to overwriting is not enabled)", secureErr)
		}
		log.Warn("secure erase failed, overwriting instead", "error", secureErr)
	}
	if err := d.overwrite(ctx, o, rep); err != nil {
		return "", err
	}
	d.rereadPartitions(log)
	log.Info("erased device", "method", MethodOverwrite, "passes", o.Iterations, "zeroize", o.Zeroize)
	return MethodOverwrite, nil
}

// finishHardware reports a hardware erase done and makes the kernel forget
// the cached data and partitions it destroyed.
func (d *blockDev) finishHardware(rep *reporter, m Method, log *slog.Logger) error {
	rep.update(1, d.Size)
	if err := d.Flush(); err != nil {
		return err
	}
	d.rereadPartitions(log)
	log.Info("erased device", "method", m)
	return nil
}

// ListDevices returns the disks (and md volumes) an erase step acts on,
// without those the node's properties.skip_block_devices names.
type ListDevices func(ctx context.Context, properties map[string]any) ([]Device, error)
