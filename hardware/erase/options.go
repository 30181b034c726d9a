package erase

import (
	"fmt"
	"log/slog"

	"github.com/goipa/goipa/hardware/ata"
	"github.com/goipa/goipa/hardware/knob"
	"github.com/goipa/goipa/hardware/nvme"
)

// Options controls the erase functions. Start from ParseOptions, which
// fills the cleaning parameters with IPA's defaults, then set the agent-side
// fields.
type Options struct {
	// Cleaning parameters the conductor sends in driver_internal_info.

	// Iterations is the number of random passes of the overwrite fallback
	// (agent_erase_devices_iterations, default 1).
	Iterations int
	// Zeroize adds a final zero pass (agent_erase_devices_zeroize, default true).
	Zeroize bool
	// ContinueIfSecureEraseFailed falls back to overwriting when NVMe or ATA
	// secure erase fails (agent_continue_if_secure_erase_failed, or the
	// older agent_continue_if_ata_erase_failed; default false).
	ContinueIfSecureEraseFailed bool
	// EnableNVMeSecureErase and EnableATASecureErase allow the hardware
	// erase methods (agent_enable_nvme_secure_erase,
	// agent_enable_ata_secure_erase; default true).
	EnableNVMeSecureErase bool
	EnableATASecureErase  bool
	// Concurrency is how many disks Devices erases at once
	// (disk_erasure_concurrency; IPA's default 1, Ironic sends its
	// [deploy]disk_erasure_concurrency, default 4).
	Concurrency int
	// SkipReadOnly makes Devices skip read-only devices instead of failing
	// (agent_erase_skip_read_only, default false).
	SkipReadOnly bool

	// Agent-side settings.

	// AllowSpecialFilesystems disables the shared-disk filesystem guard
	// (kernel parameter ipa-guard-special-filesystems=false).
	AllowSpecialFilesystems bool
	// NVMe sends admin commands to the NVMe device open at fd; nil means
	// the kernel's NVME_IOCTL_ADMIN_CMD (nvme.FD). Tests fake the drive.
	NVMe func(fd int) nvme.Device
	// ATA sends ATA commands to the disk open at fd; nil means ATA
	// PASS-THROUGH over SG_IO (ata.SGIO). Tests fake the drive.
	ATA func(fd int) ata.Device
	// Progress, if set, receives per-device progress; it is called from
	// one goroutine per device being erased, so it must be safe for
	// concurrent use.
	Progress func(Progress)
	Logger   *slog.Logger
	// SysfsRoot, DevRoot and MountInfo default to /sys, /dev and
	// /proc/self/mountinfo; tests point them at fake trees.
	SysfsRoot, DevRoot, MountInfo string
}

// driver_internal_info keys (IPA's names).
const (
	keyIterations   = "agent_erase_devices_iterations"
	keyZeroize      = "agent_erase_devices_zeroize"
	keyContinue     = "agent_continue_if_secure_erase_failed"
	keyContinueATA  = "agent_continue_if_ata_erase_failed"
	keyEnableNVMe   = "agent_enable_nvme_secure_erase"
	keyEnableATA    = "agent_enable_ata_secure_erase"
	keyConcurrency  = "disk_erasure_concurrency"
	keySkipReadOnly = "agent_erase_skip_read_only"
	maxIterations   = 100 // far above any sane request; bounds a typo like 1000000
	maxConcurrency  = 1024
)

// ParseOptions reads the cleaning parameters from a node's
// driver_internal_info, applying IPA's defaults for missing (or null) keys.
// Values may be JSON-typed or strings ("true", "3"), as operators set them
// by hand; anything else is an ErrInvalidOption naming the key.
func ParseOptions(dii map[string]any) (Options, error) {
	o := Options{
		Iterations:            1,
		Zeroize:               true,
		EnableNVMeSecureErase: true,
		EnableATASecureErase:  true,
		Concurrency:           1,
	}
	var err error
	if o.Iterations, err = intOpt(dii, keyIterations, o.Iterations, 0, maxIterations); err != nil {
		return Options{}, err
	}
	if o.Concurrency, err = intOpt(dii, keyConcurrency, o.Concurrency, 1, maxConcurrency); err != nil {
		return Options{}, err
	}
	// The old ATA-only name applies only when the new one is absent.
	cont := keyContinue
	if v, ok := dii[keyContinue]; !ok || v == nil {
		cont = keyContinueATA
	}
	for _, b := range []struct {
		key string
		dst *bool
	}{
		{keyZeroize, &o.Zeroize},
		{cont, &o.ContinueIfSecureEraseFailed},
		{keyEnableNVMe, &o.EnableNVMeSecureErase},
		{keyEnableATA, &o.EnableATASecureErase},
		{keySkipReadOnly, &o.SkipReadOnly},
	} {
		if *b.dst, err = boolOpt(dii, b.key, *b.dst); err != nil {
			return Options{}, err
		}
	}
	return o, nil
}

func (o *Options) nvme(fd int) nvme.Device {
	if o.NVMe == nil {
		return nvme.FD(fd)
	}
	return o.NVMe(fd)
}

func (o *Options) ata(fd int) ata.Device {
	if o.ATA == nil {
		return ata.SGIO(fd)
	}
	return o.ATA(fd)
}

func (o *Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

func (o *Options) sysfs() string   { return orDefault(o.SysfsRoot, "/sys") }
func (o *Options) devRoot() string { return orDefault(o.DevRoot, "/dev") }
func (o *Options) mountInfo() string {
	return orDefault(o.MountInfo, "/proc/self/mountinfo")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func boolOpt(m map[string]any, key string, def bool) (bool, error) {
	b, err := knob.Bool(m, key, def)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	return b, nil
}

func intOpt(m map[string]any, key string, def, lo, hi int) (int, error) {
	n, err := knob.Int(m, key, def, lo, hi)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	return n, nil
}
