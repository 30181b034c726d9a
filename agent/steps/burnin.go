package steps

import (
	"context"
	"errors"
	"log/slog"

	"github.com/goipa/goipa/hardware/burnin"
	"github.com/goipa/goipa/hardware/erase"
	"github.com/goipa/goipa/ipa"
)

// BurninConfig is what the burn-in steps need from the agent.
type BurninConfig struct {
	// Devices lists the disks burnin_disk may write to (the erase steps'
	// list: skip_block_devices already left out).
	Devices erase.ListDevices
	// Check carries the erase checks' settings (sysfs, /dev, mountinfo,
	// guard for shared-disk filesystems).
	Check erase.Options
	Log   *slog.Logger
}

// RegisterBurnin adds the burn-in steps to the generic manager where IPA lists
// them: all four are clean steps; burnin_disk is not a service step, as it
// would destroy the instance's data. Priority 0, interface deploy,
// abortable, no reboot.
func RegisterBurnin(g *ipa.Generic, c BurninConfig) {
	log := c.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	abortable := true
	add := func(name string, service bool, fn ipa.StepFunc) {
		s := ipa.Step{Interface: "deploy", Step: name, Priority: 0, Abortable: &abortable}
		g.Add(ipa.Clean, s, fn)
		if service {
			g.Add(ipa.Service, s, fn)
		}
	}
	add("burnin_cpu", true, burninStep(burnin.ParseCPU, func(ctx context.Context, _ ipa.Request, o burnin.CPUOptions) (any, error) {
		return burnin.CPU(ctx, o)
	}, func(o burnin.CPUOptions) string { return o.OutputFile }, log))
	add("burnin_disk", false, burninStep(burnin.ParseDisk, func(ctx context.Context, req ipa.Request, o burnin.DiskOptions) (any, error) {
		devs, err := c.Devices(ctx, req.Node.Properties)
		if err != nil {
			return nil, err
		}
		return burnin.Disk(ctx, devs, c.Check, o, log)
	}, func(o burnin.DiskOptions) string { return o.OutputFile }, log))
	add("burnin_memory", true, burninStep(burnin.ParseMemory, func(ctx context.Context, _ ipa.Request, o burnin.MemoryOptions) (any, error) {
		return burnin.Memory(ctx, o)
	}, func(o burnin.MemoryOptions) string { return o.OutputFile }, log))
	add("burnin_network", true, burninStep(burnin.ParseNetwork, func(ctx context.Context, _ ipa.Request, o burnin.NetworkOptions) (any, error) {
		// Network writes one report per direction itself.
		return burnin.Network(ctx, o, log)
	}, nil, log))
}

// burninStep wraps a burn-in: the knobs are parsed from driver_info (a bad one
// is InvalidCommandParamsError), the report goes to the output file if the
// node names one, and a failure is IPA's CommandExecutionError carrying
// the reason.
func burninStep[O any](parse func(map[string]any) (O, error), run func(context.Context, ipa.Request, O) (any, error),
	output func(O) string, log *slog.Logger) ipa.StepFunc {
	return func(ctx context.Context, req ipa.Request) (any, error) {
		info := req.Node.DriverInfo
		o, err := parse(info)
		if err != nil {
			return nil, ipa.InvalidParams("%v", err)
		}
		res, err := run(ctx, req, o)
		if output != nil && output(o) != "" {
			if werr := burnin.WriteReport(output(o), res); werr != nil {
				log.Warn("burn-in report not written", "file", output(o), "error", werr)
			}
		}
		if err != nil {
			if errors.Is(err, burnin.ErrInvalidOption) || errors.Is(err, burnin.ErrUnsupported) {
				return nil, ipa.InvalidParams("%v", err)
			}
			return nil, ipa.Typed("CommandExecutionError", "Command execution failed", err)
		}
		return res, nil
	}
}
