// Package burnin implements IPA's burn-in steps in Go, without stress-ng or
// fio: burnin_cpu, burnin_memory, burnin_disk and burnin_network. Each one
// checks what it exercises (known answers for the CPU, patterns read back
// from memory, disks and the network) and fails with ErrMismatch on a
// fault. The knobs are IPA's, read from the node's driver_info.
//
// burnin_gpu is not offered: the goipa ramdisk has no GPU compute stack
// (IPA runs gpu-burn, which needs CUDA).
package burnin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"

	"github.com/goipa/goipa/agent/command"
	"github.com/goipa/goipa/hardware"
	"github.com/goipa/goipa/hardware/erase"
)

// Config is what the steps need from the agent.
type Config struct {
	// Devices lists the disks burnin_disk may write to (the erase steps'
	// list: skip_block_devices already left out).
	Devices erase.ListDevices
	// Check carries the erase checks' settings (sysfs, /dev, mountinfo,
	// guard for shared-disk filesystems).
	Check erase.Options
	Log   *slog.Logger
}

// Register adds the burn-in steps to the generic manager where IPA lists
// them: all four are clean steps; burnin_disk is not a service step, as it
// would destroy the instance's data. Priority 0, interface deploy,
// abortable, no reboot.
func Register(g *hardware.Generic, c Config) {
	log := c.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	abortable := true
	add := func(name string, service bool, fn hardware.StepFunc) {
		s := hardware.Step{Interface: "deploy", Step: name, Priority: 0, Abortable: &abortable}
		g.Add(hardware.Clean, s, fn)
		if service {
			g.Add(hardware.Service, s, fn)
		}
	}
	add("burnin_cpu", true, step(ParseCPU, func(ctx context.Context, _ hardware.Request, o CPUOptions) (any, error) {
		return CPU(ctx, o)
	}, func(o CPUOptions) string { return o.OutputFile }, log))
	add("burnin_disk", false, step(ParseDisk, func(ctx context.Context, req hardware.Request, o DiskOptions) (any, error) {
		devs, err := c.Devices(ctx, req.Node)
		if err != nil {
			return nil, err
		}
		return Disk(ctx, devs, c.Check, o, log)
	}, func(o DiskOptions) string { return o.OutputFile }, log))
	add("burnin_memory", true, step(ParseMemory, func(ctx context.Context, _ hardware.Request, o MemoryOptions) (any, error) {
		return Memory(ctx, o)
	}, func(o MemoryOptions) string { return o.OutputFile }, log))
	add("burnin_network", true, step(ParseNetwork, func(ctx context.Context, _ hardware.Request, o NetworkOptions) (any, error) {
		// Network writes one report per direction itself.
		return Network(ctx, o, log)
	}, nil, log))
}

// step wraps a burn-in: the knobs are parsed from driver_info (a bad one
// is InvalidCommandParamsError), the report goes to the output file if the
// node names one, and a failure is IPA's CommandExecutionError carrying
// the reason.
func step[O any](parse func(map[string]any) (O, error), run func(context.Context, hardware.Request, O) (any, error),
	output func(O) string, log *slog.Logger) hardware.StepFunc {
	return func(ctx context.Context, req hardware.Request) (any, error) {
		info, _ := req.Node["driver_info"].(map[string]any)
		o, err := parse(info)
		if err != nil {
			return nil, command.InvalidParams("%v", err)
		}
		res, err := run(ctx, req, o)
		if output != nil && output(o) != "" {
			if werr := writeReport(output(o), res); werr != nil {
				log.Warn("burn-in report not written", "file", output(o), "error", werr)
			}
		}
		if err != nil {
			if errors.Is(err, ErrInvalidOption) || errors.Is(err, ErrUnsupported) {
				return nil, command.InvalidParams("%v", err)
			}
			return nil, command.Typed("CommandExecutionError", "Command execution failed", err)
		}
		return res, nil
	}
}

// writeReport writes a burn-in's report as JSON, as IPA has stress-ng and
// fio write theirs to the *_outputfile knobs.
func writeReport(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
