package erase

import (
	"context"
	"errors"
	"fmt"

	"github.com/goipa/goipa/agent/command"
	"github.com/goipa/goipa/hardware"
)

// ListDevices returns the disks (and md volumes) an erase step acts on for
// the node (whose skip_block_devices are left out).
type ListDevices func(ctx context.Context, node map[string]any) ([]Device, error)

var abortable = true

// Register adds IPA's erase steps to the generic manager with IPA's
// priorities; base carries the runner, logger and roots, the per-node
// options come from driver_internal_info at each call.
func Register(g *hardware.Generic, list ListDevices, base Options) {
	step := func(fn func(context.Context, []Device, Options) ([]Result, error)) hardware.StepFunc {
		return func(ctx context.Context, req hardware.Request) (any, error) {
			dii, _ := req.Node["driver_internal_info"].(map[string]any)
			opts, err := ParseOptions(dii)
			if err != nil {
				return nil, command.InvalidParams("%v", err)
			}
			opts.NVMe, opts.ATA, opts.Logger, opts.SysfsRoot, opts.DevRoot, opts.MountInfo = base.NVMe, base.ATA, base.Logger, base.SysfsRoot, base.DevRoot, base.MountInfo
			opts.AllowSpecialFilesystems = base.AllowSpecialFilesystems
			opts.Progress = func(p Progress) {
				command.ReportProgress(ctx, map[string]any{"device": p.Device, "method": string(p.Method),
					"pass": p.Pass, "passes": p.Passes, "bytes_done": p.Done, "bytes_total": p.Total})
			}
			devs, err := list(ctx, req.Node)
			if err != nil {
				return nil, err
			}
			res, err := fn(ctx, devs, opts)
			if err != nil {
				return nil, command.Typed("BlockDeviceEraseError", "Error erasing block device", err)
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
	clean := func(name string, prio int, fn func(context.Context, []Device, Options) ([]Result, error)) {
		g.Add(hardware.Clean, hardware.Step{Interface: "deploy", Step: name, Priority: prio, Abortable: &abortable}, step(fn))
	}
	clean("erase_devices", 10, Devices)
	clean("erase_devices_metadata", 99, MetadataDevices)
	clean("erase_devices_express", 0, Express)
	g.Add(hardware.Clean, hardware.Step{Interface: "deploy", Step: "erase_pstore", Priority: 0, Abortable: &abortable},
		func(ctx context.Context, _ hardware.Request) (any, error) {
			if err := Pstore(ctx, ""); err != nil && !errors.Is(err, context.Canceled) {
				return nil, command.Typed("CleaningError", "Clean step failed", fmt.Errorf("erase_pstore: %w", err))
			}
			return nil, nil
		})
	// erase_devices_metadata is also a deploy step (priority 0, for deploy
	// templates); registering the name again only adds it to the list.
	g.Add(hardware.Deploy, hardware.Step{Interface: "deploy", Step: "erase_devices_metadata", Priority: 0},
		step(MetadataDevices))
}
