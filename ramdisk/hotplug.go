package ramdisk

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// hotplugFiles names the modules to keep after boot for devices that appear
// later (hotplugBuses' drivers in the list, dependencies included).
func (l *loader) hotplugFiles() map[string]bool {
	keep := map[string]bool{}
	for _, name := range l.drivers {
		if !l.tree.hotplug[moduleName(name)] {
			continue
		}
		for _, m := range l.tree.closure(moduleName(name)) {
			keep[m] = true
		}
	}
	return keep
}

// releaseFirmware deletes the firmware files of modules that did not load
// (and are not kept for hotplug): a driver asks for its firmware when it
// binds a device, so the files of drivers for absent hardware would only
// sit in RAM. It returns the bytes freed.
func (l *loader) releaseFirmware(root string, keep map[string]bool) (int64, error) {
	need := map[string]bool{}
	owned := map[string]bool{}
	err := eachLine(filepath.Join(root, firmwareMapPath), func(line string) {
		mod, file, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			return
		}
		owned[file] = true
		if err, tried := l.state[moduleName(mod)]; (tried && err == nil) || keep[moduleName(mod)] {
			need[file] = true
		}
	})
	if err != nil {
		if os.IsNotExist(err) {
			return 0, nil
		}
		return 0, err
	}
	var freed int64
	for file := range owned {
		if need[file] {
			continue
		}
		for _, p := range []string{file, file + ".xz"} {
			p = filepath.Join(root, "lib/firmware", p)
			if fi, err := os.Stat(p); err == nil {
				freed += fi.Size()
				if err := os.Remove(p); err != nil {
					return freed, err
				}
			}
		}
	}
	return freed, nil
}

// listen loads drivers for devices that appear after boot on the hotplug
// buses, from the kernel's uevents, until ctx ends.
func (l *loader) listen(ctx context.Context) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		unix.Close(fd)
		return err
	}
	stop := context.AfterFunc(ctx, func() { unix.Close(fd) })
	defer stop()
	// Devices that appeared before the socket listened (a USB hub
	// enumerating while the boot's modules loaded) sent their uevents to
	// no one: one more pass finds them.
	if err := l.coldplug(ctx, nil); err != nil {
		return err
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if err == unix.EINTR || err == unix.ENOBUFS {
				continue
			}
			return err
		}
		if alias, ok := uevent(buf[:n]); ok {
			l.log.Debug("ramdisk: device added", "modalias", alias)
			if err := l.coldplug(ctx, nil); err != nil {
				return err
			}
		}
	}
}

// uevent reports the MODALIAS of a kernel "add" uevent on a hotplug bus:
// "add@/devices/…\0ACTION=add\0…\0MODALIAS=usb:v…\0".
func uevent(msg []byte) (string, bool) {
	var action, alias string
	for _, f := range bytes.Split(msg, []byte{0}) {
		if k, v, ok := strings.Cut(string(f), "="); ok {
			switch k {
			case "ACTION":
				action = v
			case "MODALIAS":
				alias = v
			}
		}
	}
	if action != "add" || alias == "" {
		return "", false
	}
	if !slices.ContainsFunc(hotplugBuses, func(b string) bool { return strings.HasPrefix(alias, b) }) {
		return "", false
	}
	return alias, true
}
