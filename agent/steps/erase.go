package steps

import (
	"context"
	"errors"
	"fmt"

	"github.com/goipa/goipa/hardware/erase"
	"github.com/goipa/goipa/ipa"
)

// RegisterErase adds IPA's erase steps to the generic manager with IPA's
// priorities; base carries the runner, logger and roots, the per-node
// options come from driver_internal_info at each call.
func RegisterErase(g *ipa.Generic, list erase.ListDevices, base erase.Options) {
	step := func(fn func(context.Context, []erase.Device, erase.Options) ([]erase.Result, error)) ipa.StepFunc {
		return func(ctx context.Context, req ipa.Request) (any, error) {
			dii := req.Node.DriverInternalInfo
			opts, err := erase.ParseOptions(dii)
			if err != nil {
				return nil, ipa.InvalidParams("%v", err)
			}
			opts.NVMe, opts.ATA, opts.Logger, opts.SysfsRoot, opts.DevRoot, opts.MountInfo = base.NVMe, base.ATA, base.Logger, base.SysfsRoot, base.DevRoot, base.MountInfo
			opts.AllowSpecialFilesystems = base.AllowSpecialFilesystems
			opts.Progress = func(p erase.Progress) {
				ipa.ReportProgress(ctx, map[string]any{"device": p.Device, "method": string(p.Method),
					"pass": p.Pass, "passes": p.Passes, "bytes_done": p.Done, "bytes_total": p.Total})
			}
			devs, err := list(ctx, req.Node.Properties)
			if err != nil {
				return nil, err
			}
			res, err := fn(ctx, devs, opts)
			if err != nil {
				return nil, ipa.Typed("BlockDeviceEraseError", "Error erasing block device", err)
			}
			out := map[string]string{}
			for _, r := range res {
				if r.Skipped != nil {
					out[r.Device] = "skipped: " + r.Skipped.Error()
					continue
				}
				out[r.Device] = string(r.Method)
			}
			return out, nil
		}
	}
	clean := func(name string, prio int, fn func(context.Context, []erase.Device, erase.Options) ([]erase.Result, error)) {
		g.Add(ipa.Clean, ipa.Step{Interface: "deploy", Step: name, Priority: prio, Abortable: &abortable}, step(fn))
	}
	clean("erase_devices", 10, erase.Devices)
	clean("erase_devices_metadata", 99, erase.MetadataDevices)
	clean("erase_devices_express", 0, erase.Express)
	g.Add(ipa.Clean, ipa.Step{Interface: "deploy", Step: "erase_pstore", Priority: 0, Abortable: &abortable},
		func(ctx context.Context, _ ipa.Request) (any, error) {
			if err := erase.Pstore(ctx, ""); err != nil && !errors.Is(err, context.Canceled) {
				return nil, ipa.Typed("CleaningError", "Clean step failed", fmt.Errorf("erase_pstore: %w", err))
			}
			return nil, nil
		})
	// erase_devices_metadata is also a deploy step (priority 0, for deploy
	// templates); registering the name again only adds it to the list.
	g.Add(ipa.Deploy, ipa.Step{Interface: "deploy", Step: "erase_devices_metadata", Priority: 0},
		step(erase.MetadataDevices))
}
