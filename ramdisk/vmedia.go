package ramdisk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrVirtualMedia reports virtual media that boot_method=vmedia promised
// and that could not be read.
var ErrVirtualMedia = errors.New("virtual media")

// VirtualMedia is what a virtual media boot brought besides the kernel
// line: its configuration files are copied into /etc by LoadVirtualMedia.
type VirtualMedia struct {
	// Device is the ISO's block device (labelled config-2 or
	// VMEDIA_BOOT_ISO); "" when none was found.
	Device string
	// Copied lists the files copied into /etc/ironic-python-agent and
	// /etc/ironic-python-agent.d.
	Copied []string
	// NetworkData is the ISO's openstack/latest/network_data.json; nil
	// without one.
	NetworkData *NetworkData
	// Params is the parameters.txt of the legacy floppy labelled ir-vfd-dev
	// (key=value words, to be merged over the kernel command line); "" without.
	Params string

	mods *loader // the drivers loaded to find the media, reused by Setup
}

const (
	paramBootMethod = "boot_method"
	bootVMedia      = "vmedia"
	// vmediaWait bounds the search for the ISO: the BMC's virtual CD (SATA
	// or USB) enumerates after its controller's driver loads. 15 s was
	// too short under TCG on a loaded host (the CD never showed in a CI
	// run while the USB floppy did); it costs only a boot whose media are
	// missing.
	vmediaWait = 60 * time.Second
	vmediaPoll = 100 * time.Millisecond
	// usbSettle is how long a USB bus may take to show the devices on it
	// once its host controller's driver is bound.
	usbSettle = 2 * time.Second
)

// vmediaModules are what reading the media needs beyond the controller's
// driver: SCSI CD-ROM and disk, and their file systems (FAT with the code
// page and character sets Debian's kernels default to: cp437, and ascii or
// utf8).
var vmediaModules = []string{"sr_mod", "sd_mod", "isofs", "vfat", "nls_cp437", "nls_ascii", "nls_utf8"}

// Files on the media, relative to its root.
var (
	vmediaConfigDirs = []string{"etc/ironic-python-agent", "etc/ironic-python-agent.d"}
	networkDataPath  = "openstack/latest/network_data.json"
	paramsPath       = "parameters.txt"
)

// VMediaBoot reports whether the kernel command line says the node booted
// from virtual media (Ironic adds boot_method=vmedia to the ISO's line).
func VMediaBoot(cmdline map[string]string) bool { return cmdline[paramBootMethod] == bootVMedia }

// LoadVirtualMedia does what IPA does at start after a virtual media boot,
// before its configuration is read: it loads the drivers of the storage
// controllers present and of CD-ROMs and their file systems, finds the ISO
// Ironic attached (a CD-ROM, or a USB disk under 4 GiB, labelled config-2
// or VMEDIA_BOOT_ISO; never a partition or a local disk), copies its
// etc/ironic-python-agent/ and etc/ironic-python-agent.d/ into /etc (Ironic
// puts ironic.crt and the TLS options there) and reads its
// network_data.json, and reads parameters.txt from a floppy labelled
// ir-vfd-dev. It waits for the ISO up to vmediaWait, and for the USB
// disks being scanned when it is found (a BMC's floppy may come later).
// Call it only when VMediaBoot; errors are ErrVirtualMedia, and what could
// be read is returned with them.
func LoadVirtualMedia(ctx context.Context, log *slog.Logger, cmdline map[string]string) (*VirtualMedia, error) {
	start := time.Now()
	// A bad option is Setup's to report; the module blacklist is read anyway.
	opts, _ := parseOptions(cmdline)
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	mods, err := newLoader(log, opts, cmdline, "/sys", "/", unix.ByteSliceToString(uts.Release[:]), loadedModules(), insmod)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrVirtualMedia, err)
	}
	vm := &VirtualMedia{mods: mods}
	var iso, floppy medium
	var usbSince time.Time
	for deadline := time.Now().Add(vmediaWait); ; {
		if err := mods.coldplug(ctx, isStorageDevice); err != nil {
			return vm, fmt.Errorf("%w: %w", ErrVirtualMedia, err)
		}
		if err := mods.load(ctx, vmediaModules); err != nil {
			return vm, fmt.Errorf("%w: %w", ErrVirtualMedia, err)
		}
		iso, floppy = findMedia("/sys", "/dev")
		// A BMC's floppy or USB stick may enumerate after its CD: USB gets
		// usbSettle from its first root hub to show its devices, then
		// usb-storage has to finish scanning them.
		if usbSince.IsZero() && hasUSB("/sys") {
			usbSince = time.Now()
		}
		usbDone := usbSince.IsZero() || time.Since(usbSince) >= usbSettle && !usbStoragePending("/sys")
		done := iso.dev != "" && (floppy.dev != "" || usbDone)
		if done || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return vm, ctx.Err()
		case <-time.After(vmediaPoll):
		}
	}
	var errs []error
	if iso.dev == "" {
		errs = append(errs, fmt.Errorf("%w: no device labelled %s after %v", ErrVirtualMedia, strings.Join(isoLabels, " or "), vmediaWait))
	} else {
		vm.Device = iso.dev
		err := withMounted(iso, func(root string) error {
			copied, err := copyConfig(root, "/etc")
			vm.Copied = copied
			nd, nerr := readNetworkData(root)
			vm.NetworkData = nd
			return errors.Join(err, nerr)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %w", ErrVirtualMedia, iso.dev, err))
		}
	}
	if floppy.dev != "" {
		err := withMounted(floppy, func(root string) error {
			b, err := os.ReadFile(filepath.Join(root, paramsPath))
			vm.Params = string(b)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %w", ErrVirtualMedia, floppy.dev, err))
		}
	}
	log.Info("ramdisk: virtual media", "device", vm.Device, "copied", vm.Copied, "network_data", vm.NetworkData != nil,
		"floppy", floppy.dev, "elapsed", time.Since(start).Round(time.Millisecond))
	return vm, errors.Join(errs...)
}

// withMounted mounts m read-only on a fresh directory, calls fn with it
// and unmounts.
func withMounted(m medium, fn func(root string) error) error {
	dir, err := os.MkdirTemp("", "vmedia")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := unix.Mount(m.dev, dir, m.fstype, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount %s: %w", m.fstype, err)
	}
	err = fn(dir)
	if uerr := unix.Unmount(dir, 0); uerr != nil {
		err = errors.Join(err, fmt.Errorf("unmount: %w", uerr))
	}
	return err
}

// copyConfig copies the files of root's etc/ironic-python-agent{,.d} into
// etc/ironic-python-agent{,.d} (etc is "/etc"), as IPA's
// _copy_config_from: files only, existing ones replaced. It returns the
// files written.
func copyConfig(root, etc string) ([]string, error) {
	var copied []string
	for _, d := range vmediaConfigDirs {
		src := filepath.Join(root, d)
		ents, err := os.ReadDir(src)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return copied, err
		}
		dst := filepath.Join(etc, strings.TrimPrefix(d, "etc/"))
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return copied, err
		}
		for _, e := range ents {
			if !e.Type().IsRegular() {
				continue
			}
			to := filepath.Join(dst, e.Name())
			if err := copyFile(filepath.Join(src, e.Name()), to); err != nil {
				return copied, err
			}
			copied = append(copied, to)
		}
	}
	return copied, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", from, err)
	}
	return out.Close()
}

// readNetworkData parses root's network_data.json; nil, nil without one.
func readNetworkData(root string) (*NetworkData, error) {
	b, err := os.ReadFile(filepath.Join(root, networkDataPath))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseNetworkData(b)
}
