// Package ramdisk does what a distribution's init did for IPA, for goipa
// running as the uinit of its u-root initramfs: file systems, kernel modules,
// network, host name and clock. Detect says whether that is the case.
package ramdisk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"
)

// Setup prepares the ramdisk, in order: mounts (/run), kernel modules from
// the image's list (soft dependencies first), the network (static with
// goipa.net=static or goipa.ip=, else DHCP on every NIC, BOOTIF first), the
// host name and, with ipa-ntp-server, the clock. cmdline holds the kernel
// parameters (key=value words). It returns once the primary NIC is
// configured; DHCP on the other NICs goes on in the background until ctx
// ends. Every step runs even when an earlier one failed; the error joins all
// failures, and the agent can usually still serve.
func Setup(ctx context.Context, log *slog.Logger, cmdline map[string]string) error {
	start := time.Now()
	opts, err := parseOptions(cmdline)
	if err != nil {
		return err
	}
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
	if err := loadModules(ctx, log, opts, cmdline, "/", kver); err != nil {
		errs = append(errs, err)
	}
	if err := doMounts(lateMounts); err != nil {
		errs = append(errs, err)
	}
	log.Info("ramdisk: modules loaded", "kernel", kver, "elapsed", time.Since(start).Round(time.Millisecond))

	lease, err := setupNetwork(ctx, log, opts)
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
		if err := syncClock(ctx, log, opts.ntp); err != nil {
			errs = append(errs, err)
		}
	}
	log.Info("ramdisk: ready", "hostname", name, "elapsed", time.Since(start).Round(time.Millisecond))
	return errors.Join(errs...)
}

func setupNetwork(ctx context.Context, log *slog.Logger, opts options) (*dhcpv4.DHCPv4, error) {
	nics, err := waitNICs(ctx, opts.bootMAC)
	if len(nics) == 0 {
		return nil, err
	}
	if err != nil {
		log.Warn("ramdisk: configuring the NICs found", "err", err)
	}
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
	return dhcpAll(ctx, log, nics, opts.bootMAC)
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

// syncClock steps the clock to the first server that answers, as IPA's
// ntpdate call did before lookup.
func syncClock(ctx context.Context, log *slog.Logger, servers []string) error {
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
