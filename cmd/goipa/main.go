// Command goipa is the deploy agent: IPA's wire contract in one static binary,
// run as the /init of goipa's u-root ramdisk (the uinit in the debug image)
// or by hand on a dev host.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/goipa/goipa/agent"
	"github.com/goipa/goipa/agent/config"
	"github.com/goipa/goipa/agent/ironic"
	"github.com/goipa/goipa/agent/logs"
	"github.com/goipa/goipa/agent/machine"
	"github.com/goipa/goipa/hardware"
	"github.com/goipa/goipa/image"
	"github.com/goipa/goipa/ramdisk"
)

// lookupPause separates two lookup rounds in the ramdisk, where no service
// manager restarts the agent as systemd does for IPA.
const lookupPause = 10 * time.Second

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(image.MemoryLimit)
	}
	if ramdisk.IsInit() {
		// As the ramdisk's /init, goipa mounts what u-root's init would
		// have, before reading the kernel command line from /proc.
		if err := ramdisk.InitRoot(); err != nil {
			fmt.Fprintln(os.Stderr, "goipa: init:", err)
		}
	}
	err := run(os.Args[1:])
	if ramdisk.IsInit() {
		// PID 1 must not exit: the kernel would panic and the node reboot
		// into the same error. Keep the console message up instead.
		fmt.Fprintln(os.Stderr, "goipa: stopped for good:", err)
		for {
			time.Sleep(time.Hour)
		}
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "goipa:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// The logger exists before the configuration: virtual media are read
	// first, and ipa-debug sets its level afterwards.
	ring := logs.NewRing(4<<20, os.Stderr)
	var level slog.LevelVar
	log := slog.New(slog.NewTextHandler(ring, &slog.HandlerOptions{Level: &level}))
	slog.SetDefault(log)

	src := config.DefaultSources()
	src.Init = ramdisk.IsInit()
	var media *ramdisk.VirtualMedia
	if ramdisk.Detect() {
		media = loadVirtualMedia(ctx, log, &level, src.Cmdline)
		if media != nil {
			src.Params = media.Params
		}
	}
	cfg, err := config.LoadWith(args, src)
	if err != nil {
		return err
	}
	if cfg.Debug {
		level.Set(slog.LevelDebug)
	}
	log.Info("goipa starting", "version", agent.Version, "config_files", cfg.Files)
	if len(cfg.Unknown) > 0 {
		log.Debug("unknown options ignored", "options", cfg.Unknown)
	}
	if len(cfg.InitArgs) > 0 {
		log.Debug("init arguments from the kernel ignored", "args", cfg.InitArgs)
	}
	for _, p := range cfg.Problems {
		// On the console and in collect_system_logs; the agent goes on
		// without the setting, so the node stays reachable.
		log.Error("setting ignored", "error", p)
	}

	a := &agent.Agent{
		Config:    cfg,
		Log:       log,
		Ring:      ring,
		SysfsRoot: "/sys",
		Machine:   machine.Host{Log: log, Exit: stop},
		Lockdown:  stop,
		// A rescue on a dev host must not leave IPA's marker in its /etc.
		RescueDir: filepath.Join(os.TempDir(), "goipa-rescue"),
	}
	if ramdisk.Detect() {
		// The ramdisk's agent owns the machine: mounts, drivers, network,
		// and real power and lockdown.
		err := ramdisk.Setup(ctx, log, cfg.Cmdline, cfg.NTPServer, media)
		if err != nil {
			log.Error("ramdisk setup incomplete", "error", err)
		}
		// fail_if_clock_not_set: IPA does not start without the clock
		// (TLS and token times depend on it); PID 1 keeps trying instead.
		for cfg.FailIfClockNotSet && errors.Is(err, ramdisk.ErrClockNotSet) {
			log.Error("clock not set; fail_if_clock_not_set holds the agent back", "retry_in", lookupPause)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(lookupPause):
			}
			servers := strings.FieldsFunc(cfg.NTPServer, func(r rune) bool { return r == ',' || r == ' ' })
			if err = ramdisk.SyncClock(ctx, log, servers); err != nil {
				err = fmt.Errorf("%w: %w", ramdisk.ErrClockNotSet, err)
			}
		}
		m := machine.Ramdisk{Log: log}
		a.Machine, a.Lockdown, a.ModulesReady, a.RescueDir = m, m.Lockdown, ramdisk.WaitModules, "/etc"
		a.DisksReady = agent.WaitForDisks(ramdisk.WaitModules, func() ([]hardware.BlockDevice, error) {
			return hardware.ListBlockDevices(hardware.BlockOptions{})
		}, cfg.DiskWaitAttempts, cfg.DiskWaitDelay, log)
	}
	// hardware_initialization_delay: hardware that needs time after the
	// ramdisk starts (IPA sleeps before evaluating the hardware managers).
	if d := cfg.HardwareInitializationDelay; d > 0 {
		log.Info("waiting for the hardware to initialise", "delay", d)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d):
		}
	}
	inRamdisk := ramdisk.Detect()
	for {
		err := a.Run(ctx)
		// A ramdisk without its agent is a dead machine: keep trying, as a
		// service manager would restart IPA.
		if ctx.Err() != nil || !inRamdisk && !errors.Is(err, ironic.ErrLookupTimeout) {
			return err
		}
		log.Error("agent stopped; starting again", "error", err, "pause", lookupPause)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(lookupPause):
		}
	}
}

// loadVirtualMedia copies the configuration of the virtual media the node
// booted from into /etc, as IPA does before reading its own, when the
// kernel command line says boot_method=vmedia; nil otherwise. ipa-debug on
// the kernel line shows the search. A medium that cannot be read is
// logged: the agent goes on with what it has.
func loadVirtualMedia(ctx context.Context, log *slog.Logger, level *slog.LevelVar, cmdlineFile string) *ramdisk.VirtualMedia {
	b, err := os.ReadFile(cmdlineFile)
	if err != nil {
		return nil // LoadWith reports it
	}
	cmdline := config.ParseCmdline(string(b))
	if !ramdisk.VMediaBoot(cmdline) {
		return nil
	}
	if debug, _ := strconv.ParseBool(cmdline["ipa-debug"]); debug {
		level.Set(slog.LevelDebug)
	}
	media, err := ramdisk.LoadVirtualMedia(ctx, log, cmdline)
	if err != nil {
		log.Error("ramdisk: virtual media", "error", err)
	}
	return media
}
