// Package ramdisk does what a distribution's init did for IPA, for goipa
// running as the uinit of its u-root initramfs: file systems, kernel modules,
// network, host name and clock. Detect says whether that is the case.
//
// It builds on the libraries u-root's own packages use (insomniacslk/dhcp,
// netlink) and keeps its own code where u-root's packages fall short: modules
// load by finit_module from the file, or through one low-memory zstd
// decoder, where pkg/kmodule reads every module into memory and starts a
// decoder per module; a lease gives the boot NIC the default route and the
// other NICs higher metrics, where dhclient.Configure4 installs competing
// default routes; SNTP is 80 lines where pkg/ntpdate would bring in an NTP
// library and write the RTC.
package ramdisk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"
)

// Setup prepares the ramdisk, in order: mounts (/run), the drivers of the
// image's module list for the NICs present (media, when not nil, is what
// LoadVirtualMedia found, and its drivers are not loaded again), the
// network (the media's network_data.json when there is one, else static
// with goipa.net=static or goipa.ip=, else DHCP on every NIC, BOOTIF
// first, and IPv6 on every NIC from router advertisements, with DHCPv6 as
// they ask), the host name and, with ntp (IPA's ntp_server, from
// ipa-ntp-server or a config file: comma-separated host[:port]), the
// clock; a clock that could not be set is an ErrClockNotSet in the error.
// cmdline holds the kernel parameters (key=value words). It returns once
// the primary NIC is
// configured. Two things go on in the background until done or ctx ends:
// DHCP on the other NICs, and loading the rest of the module list (drivers
// for the other devices present, md, file systems; soft dependencies first;
// see WaitModules). Every step runs even when an earlier one failed; the
// error joins all failures, and the agent can usually still serve.
func Setup(ctx context.Context, log *slog.Logger, cmdline map[string]string, ntp string, media *VirtualMedia) error {
	start := time.Now()
	opts, err := parseOptions(cmdline)
	if err != nil {
		return err
	}
	opts.ntp = splitList(ntp)
	var errs []error
	if err := doMounts(earlyMounts); err != nil {
		errs = append(errs, err)
	}
	for _, d := range runDirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			errs = append(errs, err)
		}
	}

	var uts unix.Utsname
	_ = unix.Uname(&uts)
	kver := unix.ByteSliceToString(uts.Release[:])
	var mods *loader
	if media != nil && media.mods != nil {
		mods = media.mods
	} else if mods, err = newLoader(log, opts, cmdline, "/sys", "/", kver, loadedModules(), insmod); err != nil {
		errs = append(errs, err)
	}
	if mods != nil {
		if err := mods.coldplug(ctx, isNetDevice); err != nil {
			errs = append(errs, err)
		}
	}
	log.Info("ramdisk: NIC drivers loaded", "kernel", kver, "elapsed", time.Since(start).Round(time.Millisecond))

	// Everything else loads in the background: under emulation raid456 and
	// ext4 alone take a second, and nothing needs them before lookup.
	background := make(chan struct{})
	bg.mu.Lock()
	bg.done = background
	bg.mu.Unlock()
	go func() {
		// Under emulation there is one slow CPU, and module loading (the
		// kernel's signature checks, raid6's benchmark) would delay DHCP,
		// lookup and the first heartbeat by a second or more. The thread is
		// never unlocked, so it ends with this goroutine, nice value and all.
		runtime.LockOSThread()
		if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), backgroundNice); err != nil {
			log.Debug("ramdisk: module loading keeps its priority", "error", err)
		}
		var err error
		if mods != nil {
			// Drivers for absent devices go before the big loads (raid456,
			// ext4), which could otherwise run a small VM out of memory.
			err = mods.coldplug(ctx, nil)
			later := mods.hotplugFiles()
			keep := maps.Clone(later)
			maps.Copy(keep, mods.restFiles())
			freed, rerr := mods.release(keep)
			err = errors.Join(err, rerr, mods.rest(ctx))
			more, rerr := mods.release(later)
			fw, ferr := mods.releaseFirmware("/", later)
			err = errors.Join(err, rerr, ferr)
			log.Debug("ramdisk: module and firmware files released", "bytes", freed+more+fw)
		}
		err = errors.Join(err, doMounts(lateMounts))
		if err != nil {
			log.Error("ramdisk: modules", "error", err)
		}
		log.Info("ramdisk: all modules loaded", "elapsed", time.Since(start).Round(time.Millisecond))
		bg.mu.Lock()
		bg.err = err
		bg.mu.Unlock()
		close(background)
		if mods != nil {
			// USB enumerates after its host driver loads; keyboards and
			// sticks come later still.
			if err := mods.listen(ctx); err != nil {
				log.Warn("ramdisk: no driver loading for devices added later", "error", err)
			}
		}
	}()

	var nd *NetworkData
	if media != nil {
		nd = media.NetworkData
	}
	lease, err := setupNetwork(ctx, log, opts, nd, mods)
	if err != nil {
		errs = append(errs, err)
	}

	name := opts.hostname
	if name == "" && lease != nil && validHostname(lease.HostName()) {
		name = lease.HostName()
	}
	if name == "" {
		name = "localhost"
	}
	if err := setHostname(name); err != nil {
		errs = append(errs, err)
	}

	if len(opts.ntp) > 0 {
		if err := SyncClock(ctx, log, opts.ntp); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrClockNotSet, err))
		}
	}
	log.Info("ramdisk: ready", "hostname", name, "elapsed", time.Since(start).Round(time.Millisecond))
	return errors.Join(errs...)
}

// backgroundNice is the nice value of the thread loading the modules
// nothing waits for at boot.
const backgroundNice = 19

// bg tracks the module loading Setup leaves running.
var bg struct {
	mu   sync.Mutex
	done chan struct{} // nil until Setup starts it
	err  error
}

// WaitModules blocks until the module loading Setup left in the background
// is over: drivers for non-network devices (disk controllers), SCSI disks,
// md and its RAID levels, file systems, then efivarfs is mounted. The module
// files are deleted afterwards to give their RAM back: load nothing later. Inventory
// and RAID code call it before looking at disks. Without Setup (not a
// ramdisk) it returns at once.
func WaitModules(ctx context.Context) error {
	bg.mu.Lock()
	done := bg.done
	bg.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		bg.mu.Lock()
		defer bg.mu.Unlock()
		return bg.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func setupNetwork(ctx context.Context, log *slog.Logger, opts options, nd *NetworkData, mods *loader) (*dhcpv4.DHCPv4, error) {
	nics, err := waitNICs(ctx, opts.bootMAC)
	if len(nics) == 0 {
		return nil, err
	}
	if err != nil {
		log.Warn("ramdisk: configuring the NICs found", "error", err)
	}
	if nd != nil {
		linksUp(log, nics)
		if opts.static != nil {
			log.Warn("ramdisk: goipa.net and goipa.ip ignored: network_data.json applies")
		}
		return applyNetworkData(ctx, log, nd, nics, mods)
	}
	// Before the links go up, so the first router advertisement is heard.
	v6 := startIPv6(ctx, log, nics)
	linksUp(log, nics)
	if opts.static != nil {
		l := nics[0]
		if m := findMAC(nics, opts.bootMAC); m != nil {
			l = m
		}
		if err := configureStatic(l, opts.static); err != nil {
			return nil, err
		}
		log.Info("ramdisk: static address", "nic", l.Attrs().Name, "addr", opts.static.addr, "gw", opts.static.gw)
		return nil, nil
	}
	return dhcpAll(ctx, log, nics, opts.bootMAC, v6, true)
}

func setHostname(name string) error {
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("set host name %q: %w", name, err)
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
	if name != "localhost" {
		hosts += "127.0.1.1\t" + name + "\n"
	}
	return errors.Join(
		os.WriteFile("/etc/hostname", []byte(name+"\n"), 0o644),
		os.WriteFile("/etc/hosts", []byte(hosts), 0o644),
	)
}

// ErrClockNotSet reports that no NTP server set the clock.
var ErrClockNotSet = errors.New("clock not set")

// SyncClock steps the clock to the first server that answers, as IPA's
// ntpdate call did before lookup.
func SyncClock(ctx context.Context, log *slog.Logger, servers []string) error {
	var errs []error
	for _, s := range servers {
		off, err := sntpOffset(ctx, s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s, err))
			continue
		}
		tv := unix.NsecToTimeval(time.Now().Add(off).UnixNano())
		if err := unix.Settimeofday(&tv); err != nil {
			return fmt.Errorf("set clock: %w", err)
		}
		log.Info("ramdisk: clock set", "server", s, "offset", off)
		return nil
	}
	return fmt.Errorf("ntp (%s): %w", strings.Join(servers, ","), errors.Join(errs...))
}
