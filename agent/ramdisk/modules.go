package ramdisk

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/u-root/u-root/pkg/kmodule"
)

// moduleListPath is where `make ramdisk` puts initramfs/modules.txt.
const moduleListPath = "/etc/goipa/modules"

// ErrNoModules reports a ramdisk without its module list or module tree.
var ErrNoModules = errors.New("kernel modules unavailable")

// moduleTree is what the ramdisk's depmod wrote for its module subset.
// kmodule follows modules.dep itself but not soft dependencies, and with no
// /sbin/modprobe in the image the kernel's own request_module("crc32c") fails,
// so raid456 and ext4 would not load: soft dependencies are resolved here.
type moduleTree struct {
	deps    map[string][]string // module → modules it needs (modules.dep)
	softPre map[string][]string // module → names or aliases to load before it
	aliases map[string][]string // exact alias → modules, in file order
}

func readModuleTree(dir string) (*moduleTree, error) {
	t := &moduleTree{deps: map[string][]string{}, softPre: map[string][]string{}, aliases: map[string][]string{}}
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
	_ = eachLine(filepath.Join(dir, "modules.alias"), func(line string) {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "alias" && !strings.ContainsAny(f[1], "*?[") {
			t.aliases[f[1]] = append(t.aliases[f[1]], moduleName(f[2]))
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

// loadModules loads the image's module list in order. A module that fails to
// load (no such hardware, CPU lacks the instructions) is logged and skipped;
// only a missing list or tree is an error.
func loadModules(ctx context.Context, log *slog.Logger, opts options, cmdline map[string]string, root, kver string) error {
	dir := filepath.Join(root, "lib/modules", kver)
	tree, err := readModuleTree(dir)
	if err != nil {
		return err
	}
	wanted, err := readModuleList(filepath.Join(root, moduleListPath))
	if err != nil {
		return err
	}
	prober, err := kmodule.NewProber(kmodule.ProbeOpts{RootDir: root, KVer: kver})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoModules, err)
	}
	for _, name := range tree.loadOrder(wanted, opts.blacklist) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := prober.Probe(name, moduleParams(name, cmdline)); err != nil {
			log.Debug("ramdisk: module not loaded", "module", name, "err", err)
			continue
		}
	}
	return nil
}

// moduleParams collects "name.param=value" kernel parameters, which modprobe
// would pass on and the kernel applies only to built-in code.
func moduleParams(name string, cmdline map[string]string) string {
	var p []string
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

func eachLine(path string, fn func(string)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fn(s.Text())
	}
	return s.Err()
}
