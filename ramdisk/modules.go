package ramdisk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// moduleListPath is where `make ramdisk` puts the profile's module names
// (initramfs/modules-PROFILE.txt, directories expanded); firmwareMapPath
// lists "module firmware-file" for the firmware the image carries.
const (
	moduleListPath  = "/etc/goipa/modules"
	firmwareMapPath = "/etc/goipa/firmware"
)

// ErrNoModules reports a ramdisk without its module list or module tree.
var ErrNoModules = errors.New("kernel modules unavailable")

// moduleTree is what the ramdisk's depmod wrote for its module subset.
// kmodule follows modules.dep itself but not soft dependencies, and with no
// /sbin/modprobe in the image the kernel's own request_module("crc32c") fails,
// so raid456 and ext4 would not load: soft dependencies are resolved here.
type moduleTree struct {
	paths   map[string]string          // module → file, relative to the tree
	deps    map[string][]string        // module → modules it needs (modules.dep)
	softPre map[string][]string        // module → names or aliases to load before it
	aliases map[string][]string        // exact alias → modules, in file order
	devices map[string][]devicePattern // modalias globs of device drivers, by literal prefix
	drivers map[string]bool            // modules with a devices pattern
	hotplug map[string]bool            // drivers of buses whose devices come and go (USB, HID)
}

// devicePattern is a modules.alias glob for a device on a coldplug bus,
// filed under its literal start (bus, vendor, often device): path.Match is
// slow under emulation, and most patterns fail on their prefix.
type devicePattern struct{ glob, module string }

// coldplugBuses are the buses whose drivers load only when a device on them
// matches: loading every NIC and HBA driver of the list would cost seconds of
// signature checks under emulation for hardware that is not there. The
// platform bus carries the BMC the firmware's SMBIOS describes
// (platform:dmi-ipmi-si, ipmi_si's); USB and HID, the console's keyboard and
// USB disks, whose devices also appear later (hotplugBuses).
var coldplugBuses = []string{"pci:", "virtio:", "platform:", "usb:", "hid:"}

// hotplugBuses are those whose devices appear after boot: a USB hub
// enumerates its ports after its driver loads, and keyboards and sticks get
// plugged in. Their drivers' files stay for the uevents that announce them.
var hotplugBuses = []string{"usb:", "hid:"}

func readModuleTree(dir string) (*moduleTree, error) {
	t := &moduleTree{paths: make(map[string]string, 512), deps: make(map[string][]string, 512), softPre: map[string][]string{},
		aliases: make(map[string][]string, 1024),
		// Sized for the server profile's thousands of aliases: growing the
		// maps cost more than reading the lines, under emulation.
		devices: make(map[string][]devicePattern, 4096), drivers: make(map[string]bool, 512), hotplug: map[string]bool{}}
	err := eachLine(filepath.Join(dir, "modules.dep"), func(line string) {
		path, deps, ok := strings.Cut(line, ":")
		if !ok {
			return
		}
		var names []string
		for _, d := range strings.Fields(deps) {
			names = append(names, moduleName(d))
		}
		t.deps[moduleName(path)] = names
		t.paths[moduleName(path)] = path
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoModules, err)
	}
	// Both files are optional: depmod omits nothing, but a hand-made tree may.
	_ = eachLine(filepath.Join(dir, "modules.softdep"), func(line string) {
		// softdep MODULE pre: A B post: C
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "softdep" {
			return
		}
		pre := false
		for _, w := range f[2:] {
			switch w {
			case "pre:":
				pre = true
			case "post:":
				pre = false
			default:
				if pre {
					t.softPre[moduleName(f[1])] = append(t.softPre[moduleName(f[1])], w)
				}
			}
		}
	})
	// Thousands of lines in the server profile, parsed at every boot under
	// emulation: Cut, not Fields, and no allocation per line.
	_ = eachLine(filepath.Join(dir, "modules.alias"), func(line string) {
		rest, ok := strings.CutPrefix(line, "alias ")
		glob, mod, ok2 := strings.Cut(rest, " ")
		if !ok || !ok2 || glob == "" || mod == "" || strings.ContainsRune(mod, ' ') {
			return
		}
		i := strings.IndexAny(glob, "*?[\\")
		if i < 0 {
			t.aliases[glob] = append(t.aliases[glob], moduleName(mod))
			i = len(glob)
		}
		for _, bus := range coldplugBuses {
			if strings.HasPrefix(glob, bus) {
				lit := glob[:i]
				t.devices[lit] = append(t.devices[lit], devicePattern{glob: glob, module: moduleName(mod)})
				t.drivers[moduleName(mod)] = true
				if slices.Contains(hotplugBuses, bus) {
					t.hotplug[moduleName(mod)] = true
				}
			}
		}
	})
	return t, nil
}

// loadOrder expands the wanted modules into kmodule.Probe calls: before each
// module, the soft dependencies of it and of everything it depends on.
// Hard dependencies are left to kmodule. Each name appears once; names not in
// the tree (built in, or absent from this image) are dropped.
func (t *moduleTree) loadOrder(wanted []string, blacklist map[string]bool) []string {
	var order []string
	seen := map[string]bool{}
	var add func(name string, visiting map[string]bool)
	add = func(name string, visiting map[string]bool) {
		if seen[name] || visiting[name] || blacklist[name] {
			return
		}
		if _, ok := t.deps[name]; !ok {
			return
		}
		visiting[name] = true
		for _, m := range t.closure(name) {
			for _, pre := range t.softPre[m] {
				for _, cand := range t.resolve(pre) {
					add(cand, visiting)
				}
			}
		}
		seen[name] = true
		order = append(order, name)
	}
	for _, w := range wanted {
		add(moduleName(w), map[string]bool{})
	}
	return order
}

// closure is name and everything it needs, via modules.dep.
func (t *moduleTree) closure(name string) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		for _, d := range t.deps[n] {
			walk(d)
		}
		out = append(out, n)
	}
	walk(name)
	return out
}

// resolve maps a soft dependency (module name or alias such as
// "crypto-crc32c") to the modules present in the tree.
func (t *moduleTree) resolve(s string) []string {
	if _, ok := t.deps[moduleName(s)]; ok {
		return []string{moduleName(s)}
	}
	return t.aliases[s]
}

// isDriver reports whether name drives devices on a coldplug bus.
func (t *moduleTree) isDriver(name string) bool { return t.drivers[name] }

// matching returns the modules among candidates whose aliases match one of
// the devices' modalias strings (as udev's coldplug would), in candidate order.
func (t *moduleTree) matching(candidates, modaliases []string) []string {
	hit := map[string]bool{}
	// A pattern can only match a modalias its literal prefix starts: look
	// up each prefix of each modalias, not each pattern.
	for _, a := range modaliases {
		for n := 0; n <= len(a); n++ {
			for _, p := range t.devices[a[:n]] {
				if hit[p.module] {
					continue
				}
				if ok, _ := path.Match(p.glob, a); ok {
					hit[p.module] = true
				}
			}
		}
	}
	var out []string
	for _, c := range candidates {
		if hit[moduleName(c)] {
			out = append(out, moduleName(c))
		}
	}
	return out
}

// deviceModaliases reads the modalias of every device on the coldplug
// buses. Only those: under emulation, walking all of sysfs/bus (ACPI,
// platform, CPUs...) took 0.1–0.2 s per pass.
func deviceModaliases(sysfs string) []string {
	var out []string
	for _, bus := range coldplugBuses {
		files, _ := filepath.Glob(filepath.Join(sysfs, "bus", strings.TrimSuffix(bus, ":"), "devices/*/modalias"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil {
				out = append(out, strings.TrimSpace(string(b)))
			}
		}
	}
	return out
}

// readModuleList reads a module list: one name per line, '#' comments.
func readModuleList(path string) ([]string, error) {
	var names []string
	err := eachLine(path, func(line string) {
		line, _, _ = strings.Cut(line, "#")
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoModules, err)
	}
	return names, nil
}

// loader loads the image's module list: drivers only for the devices present
// (NICs first: the network is what the boot waits for), the other modules
// unconditionally.
// A module that fails to load (CPU lacks the instructions, device refuses)
// is logged and skipped; only a missing list or tree is an error.
type loader struct {
	log     *slog.Logger
	tree    *moduleTree
	insmod  func(path, params string) error // loads one module file
	sysfs   string
	params  map[string]string // kernel command line, for name.param=value
	drivers []string          // listed modules that need a device
	others  []string          // listed modules loaded unconditionally
	skip    map[string]bool
	tried   map[string]bool  // drivers coldplug has loaded or failed to
	state   map[string]error // modules tried: nil if loaded
	dir     string           // lib/modules/KVER
}

// newLoader reads the module list under root and the module tree in
// root/lib/modules/kver; loaded names the modules already in the kernel.
func newLoader(log *slog.Logger, opts options, cmdline map[string]string, sysfs, root, kver string, loaded []string, insmod func(path, params string) error) (*loader, error) {
	dir := filepath.Join(root, "lib/modules", kver)
	tree, err := readModuleTree(dir)
	if err != nil {
		return nil, err
	}
	wanted, err := readModuleList(filepath.Join(root, moduleListPath))
	if err != nil {
		return nil, err
	}
	l := &loader{log: log, tree: tree, insmod: insmod, sysfs: sysfs, params: cmdline, skip: opts.blacklist,
		tried: map[string]bool{}, state: map[string]error{}, dir: dir}
	for _, m := range loaded {
		l.state[moduleName(m)] = nil
	}
	for _, w := range wanted {
		if tree.isDriver(moduleName(w)) {
			l.drivers = append(l.drivers, w)
		} else {
			l.others = append(l.others, w)
		}
	}
	return l, nil
}

// coldplug loads the drivers whose devices are present and pass keep (nil:
// all), again and again while loading one makes new devices appear
// (virtio_pci, then virtio_net). Calls must not overlap.
func (l *loader) coldplug(ctx context.Context, keep func(modalias string) bool) error {
	for {
		var present []string
		for _, a := range deviceModaliases(l.sysfs) {
			if keep == nil || keep(a) {
				present = append(present, a)
			}
		}
		var fresh []string
		for _, m := range l.tree.matching(l.drivers, present) {
			if !l.tried[m] {
				l.tried[m] = true
				fresh = append(fresh, m)
			}
		}
		if len(fresh) == 0 {
			return nil
		}
		if err := l.load(ctx, fresh); err != nil {
			return err
		}
	}
}

// isNetDevice matches the modalias of a network controller: PCI base class
// 02, or virtio device 1 (virtio-net).
func isNetDevice(modalias string) bool {
	switch {
	case strings.HasPrefix(modalias, "pci:"):
		return strings.Contains(modalias, "bc02sc")
	case strings.HasPrefix(modalias, "virtio:"):
		return strings.HasPrefix(modalias, "virtio:d00000001v")
	}
	return false
}

// restFiles names the modules rest will load, dependencies included.
func (l *loader) restFiles() map[string]bool {
	keep := map[string]bool{}
	for _, name := range l.tree.loadOrder(l.others, l.skip) {
		for _, m := range l.tree.closure(name) {
			keep[m] = true
		}
	}
	return keep
}

// rest loads the listed modules that drive no coldplug device: SCSI disk
// and CD drivers, md and its personalities, file systems.
func (l *loader) rest(ctx context.Context) error { return l.load(ctx, l.others) }

// release deletes module files, but those of keep: the files (26 MB in the
// server profile, almost all drivers for absent hardware) sit in RAM that a
// 128 MiB machine, or an image cached in /tmp, needs. It returns the bytes
// freed.
func (l *loader) release(keep map[string]bool) (int64, error) {
	var freed int64
	err := filepath.WalkDir(l.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(d.Name(), ".ko") || keep[moduleName(d.Name())] {
			return err
		}
		if info, err := d.Info(); err == nil {
			freed += info.Size()
		}
		return os.Remove(p)
	})
	return freed, err
}

func (l *loader) load(ctx context.Context, names []string) error {
	for _, name := range l.tree.loadOrder(names, l.skip) {
		if err := ctx.Err(); err != nil {
			return err
		}
		start := time.Now()
		if err := l.loadWithDeps(name); err != nil {
			l.log.Debug("ramdisk: module not loaded", "module", name, "error", err)
			continue
		}
		l.log.Debug("ramdisk: module loaded", "module", name, "elapsed", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// loadWithDeps loads name after the modules it needs (modules.dep), one at
// a time on the caller's thread, so that a lowered priority covers them all.
func (l *loader) loadWithDeps(name string) error {
	for _, m := range l.tree.closure(name) {
		err, tried := l.state[m]
		if !tried {
			err = l.insmod(filepath.Join(l.dir, l.tree.paths[m]), moduleParams(m, l.params))
			if errors.Is(err, unix.EEXIST) {
				err = nil
			}
			l.state[m] = err
		}
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
	}
	return nil
}

// moduleDefaults are options the ramdisk loads modules with, as a
// modprobe.d file would give them: bonding would otherwise create a bond0
// with a random MAC, which inspection reports as a NIC (a port in Ironic);
// bonds are made when a network description asks for one.
var moduleDefaults = map[string][]string{"bonding": {"max_bonds=0"}}

// moduleParams is name's defaults and the "name.param=value" kernel
// parameters, which modprobe would pass on and the kernel applies only to
// built-in code; the kernel's come last and win.
func moduleParams(name string, cmdline map[string]string) string {
	p := slices.Clone(moduleDefaults[name])
	for _, k := range slices.Sorted(maps.Keys(cmdline)) {
		mod, param, ok := strings.Cut(k, ".")
		if ok && moduleName(mod) == name && param != "" {
			p = append(p, param+"="+cmdline[k])
		}
	}
	return strings.Join(p, " ")
}

// moduleName turns "kernel/drivers/md/md-mod.ko" or "md-mod" into "md_mod".
func moduleName(s string) string {
	s = filepath.Base(s)
	for _, ext := range []string{".gz", ".xz", ".zst"} {
		s = strings.TrimSuffix(s, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(s, ".ko"), "-", "_")
}

// eachLine calls fn for each line of the file. The lines share one string:
// what fn keeps of them costs no allocation of its own.
func eachLine(path string, fn func(string)) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for line := range strings.Lines(string(b)) {
		fn(strings.TrimRight(line, "\r\n"))
	}
	return nil
}
