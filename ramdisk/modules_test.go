package ramdisk

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

const testKVer = "6.1.0-test"

// fakeRoot writes a module tree shaped like Debian's (names, soft
// dependencies and aliases as depmod writes them) and the image's list.
func fakeRoot(t *testing.T, list string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "lib/modules", testKVer)
	files := map[string]string{
		"modules.dep": `kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko:
kernel/drivers/md/md-mod.ko:
kernel/lib/libcrc32c.ko:
kernel/drivers/md/raid456.ko: kernel/lib/libcrc32c.ko kernel/drivers/md/md-mod.ko
kernel/crypto/crc32c_generic.ko:
kernel/arch/x86/crypto/crc32c-intel.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko
`,
		"modules.softdep": `# Soft dependencies extracted from modules themselves.
softdep ext4 pre: crypto-crc32c
softdep jbd2 pre: crypto-crc32c
softdep libcrc32c pre: crc32c post: md-mod
`,
		"modules.alias": `# Aliases extracted from modules themselves.
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
alias pci:v00008086d000010D3sv*sd*bc*sc*i* e1000e
alias virtio:d00000001v* virtio_net
alias virtio:d00000002v* virtio_blk
alias cpu:type:x86,ven*fam*mod*:feature:*0094* crc32c_intel
alias crypto-crc32c crc32c_intel
alias crc32c crc32c_intel
alias crypto-crc32c crc32c_generic
alias crc32c crc32c_generic
alias md-level-5 raid456
alias fs-ext4 ext4
`,
		"modules.builtin": "kernel/fs/isofs/isofs.ko\n",
	}
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
	for _, line := range strings.Split(strings.TrimSpace(files["modules.dep"]), "\n") {
		ko, _, _ := strings.Cut(line, ":")
		writeFile(t, filepath.Join(dir, ko), "ko")
	}
	writeFile(t, filepath.Join(root, moduleListPath), list)
	return root
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadOrderSoftDeps(t *testing.T) {
	tree, err := readModuleTree(filepath.Join(fakeRoot(t, ""), "lib/modules", testKVer))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		wanted    []string
		blacklist map[string]bool
		want      []string
	}{
		// libcrc32c, a dependency of raid456, wants crc32c: both providers first.
		{name: "raid456", wanted: []string{"raid456"}, want: []string{"crc32c_intel", "crc32c_generic", "raid456"}},
		// ext4 and its dependency jbd2 both want crypto-crc32c; loaded once.
		{name: "ext4 after raid456", wanted: []string{"raid456", "ext4"}, want: []string{"crc32c_intel", "crc32c_generic", "raid456", "ext4"}},
		{name: "hyphens and file names", wanted: []string{"md-mod", "kernel/fs/ext4/ext4.ko"}, want: []string{"md_mod", "crc32c_intel", "crc32c_generic", "ext4"}},
		{name: "built-in and unknown names dropped", wanted: []string{"isofs", "nosuch", "md_mod"}, want: []string{"md_mod"}},
		{name: "blacklist", wanted: []string{"ext4", "md_mod"}, blacklist: map[string]bool{"ext4": true}, want: []string{"md_mod"}},
		{name: "blacklisted soft dependency", wanted: []string{"ext4"}, blacklist: map[string]bool{"crc32c_intel": true}, want: []string{"crc32c_generic", "ext4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tree.loadOrder(tt.wanted, tt.blacklist); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("loadOrder(%q) = %q, want %q", tt.wanted, got, tt.want)
			}
		})
	}
}

// TestLoaderPhases runs the loader against the fake tree, recording the .ko
// files in the order the kernel would get them, with their parameters.
func TestLoaderPhases(t *testing.T) {
	root := fakeRoot(t, `# test list
virtio_pci
virtio_net   # NIC
e1000e
virtio_blk
md_mod
raid456
ext4
isofs
nosuch
`)
	sysfs := t.TempDir()
	// Before virtio_pci: only the PCI functions of a virtio NIC and disk.
	writeFile(t, filepath.Join(sysfs, "bus/pci/devices/0000:00:02.0/modalias"), "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00\n")
	writeFile(t, filepath.Join(sysfs, "bus/pci/devices/0000:00:03.0/modalias"), "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00\n")

	var mu sync.Mutex
	var loaded []string
	params := map[string]string{}
	insmod := func(path, p string) error {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("insmod of a missing file: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		name := moduleName(path)
		loaded = append(loaded, name)
		params[name] = p
		if name == "virtio_pci" { // its devices show up on the virtio bus
			writeFile(t, filepath.Join(sysfs, "bus/virtio/devices/virtio0/modalias"), "virtio:d00000001v00001AF4\n")
			writeFile(t, filepath.Join(sysfs, "bus/virtio/devices/virtio1/modalias"), "virtio:d00000002v00001AF4\n")
		}
		return nil
	}
	cmdline := map[string]string{"md_mod.start_ro": "1", "modprobe.blacklist": "e1000e"}
	opts, err := parseOptions(cmdline)
	if err != nil {
		t.Fatal(err)
	}
	// virtio_ring is in the kernel already (u-root's init could load one).
	l, err := newLoader(slog.New(slog.NewTextHandler(io.Discard, nil)), opts, cmdline, sysfs, root, testKVer, []string{"virtio_ring"}, insmod)
	if err != nil {
		t.Fatal(err)
	}
	phase := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := loaded
		loaded = nil
		return out
	}

	ctx := context.Background()
	if err := l.coldplug(ctx, isNetDevice); err != nil {
		t.Fatal(err)
	}
	net := phase()
	assertBefore(t, net, "virtio", "virtio_pci", "virtio_net")
	if want := []string{"virtio", "virtio_net", "virtio_pci"}; !reflect.DeepEqual(sorted(net), want) {
		t.Errorf("NIC phase loaded %q, want %q", net, want)
	}

	if err := l.coldplug(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := phase(), []string{"virtio_blk"}; !reflect.DeepEqual(got, want) {
		t.Errorf("device phase loaded %q, want %q (e1000e has no device)", got, want)
	}

	// Before rest, only what rest needs stays: the loaded virtio drivers
	// and e1000e (no device) go, 6 files of 2 bytes.
	if freed, err := l.release(l.restFiles()); err != nil || freed != 12 {
		t.Fatalf("release(restFiles) = %d, %v; want 12", freed, err)
	}
	if _, err := os.Stat(filepath.Join(root, "lib/modules", testKVer, "kernel/drivers/md/raid456.ko")); err != nil {
		t.Fatalf("raid456 released before rest: %v", err)
	}
	if err := l.rest(ctx); err != nil {
		t.Fatal(err)
	}
	rest := phase()
	if want := []string{"crc32c_generic", "crc32c_intel", "ext4", "jbd2", "libcrc32c", "md_mod", "raid456"}; !reflect.DeepEqual(sorted(rest), want) {
		t.Errorf("rest loaded %q, want %q", rest, want)
	}
	assertBefore(t, rest, "crc32c_generic", "libcrc32c", "raid456")
	assertBefore(t, rest, "crc32c_intel", "libcrc32c")
	assertBefore(t, rest, "crc32c_generic", "jbd2", "ext4")
	assertBefore(t, rest, "md_mod", "raid456")
	// md_mod is loaded as raid456's dependency and still gets its parameter.
	if params["md_mod"] != "start_ro=1" || params["raid456"] != "" {
		t.Errorf("parameters: md_mod %q, raid456 %q; want start_ro=1 and none", params["md_mod"], params["raid456"])
	}

	freed, err := l.release(nil)
	if want := int64(2 * 7); err != nil || freed != want { // md, raid456, crc32c, ext4
		t.Fatalf("release = %d, %v; want %d", freed, err, want)
	}
	if kos, _ := filepath.Glob(filepath.Join(root, "lib/modules", testKVer, "kernel/*/*/*.ko")); len(kos) != 0 {
		t.Errorf("after release: %q remain", kos)
	}
	if _, err := os.Stat(filepath.Join(root, "lib/modules", testKVer, "modules.dep")); err != nil {
		t.Errorf("release removed modules.dep: %v", err)
	}
}

func TestNewLoaderMissing(t *testing.T) {
	root := fakeRoot(t, "md_mod\n")
	if err := os.Remove(filepath.Join(root, moduleListPath)); err != nil {
		t.Fatal(err)
	}
	_, err := newLoader(slog.Default(), options{}, nil, t.TempDir(), root, testKVer, nil, insmod)
	if err == nil || !strings.Contains(err.Error(), "kernel modules unavailable") {
		t.Errorf("without the list: err = %v, want ErrNoModules", err)
	}
	_, err = newLoader(slog.Default(), options{}, nil, t.TempDir(), root, "0.0.0", nil, insmod)
	if err == nil || !strings.Contains(err.Error(), "kernel modules unavailable") {
		t.Errorf("without the tree: err = %v, want ErrNoModules", err)
	}
}

func TestModuleParams(t *testing.T) {
	cmdline := map[string]string{"md_mod.start_ro": "1", "md-mod.start_dirty_degraded": "1", "goipa.net": "static", "md_mod": "x", "ipa-api-url": "http://a.b/"}
	if got, want := moduleParams("md_mod", cmdline), "start_dirty_degraded=1 start_ro=1"; got != want {
		t.Errorf("moduleParams = %q, want %q", got, want)
	}
	if got := moduleParams("ext4", cmdline); got != "" {
		t.Errorf("moduleParams(ext4) = %q, want none", got)
	}
	// No bond0 of bonding's own: it would show up as a NIC in inspection.
	if got := moduleParams("bonding", nil); got != "max_bonds=0" {
		t.Errorf("moduleParams(bonding) = %q, want max_bonds=0", got)
	}
	if got := moduleParams("bonding", map[string]string{"bonding.max_bonds": "2"}); got != "max_bonds=0 max_bonds=2" {
		t.Errorf("moduleParams(bonding) with a kernel parameter = %q, want the kernel's last", got)
	}
}

func TestIsNetDevice(t *testing.T) {
	for alias, want := range map[string]bool{
		"pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00": true,
		"pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01": false, // AHCI
		"virtio:d00000001v00001AF4":                             true,
		"virtio:d00000002v00001AF4":                             false,
		"acpi:PNP0A08:":                                         false,
	} {
		if got := isNetDevice(alias); got != want {
			t.Errorf("isNetDevice(%q) = %v, want %v", alias, got, want)
		}
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// assertBefore checks that the names appear in this relative order.
func assertBefore(t *testing.T, seq []string, names ...string) {
	t.Helper()
	last := -1
	for _, n := range names {
		i := slices.Index(seq, n)
		if i < 0 || i < last {
			t.Errorf("%q: want %q in this order", seq, names)
			return
		}
		last = i
	}
}
