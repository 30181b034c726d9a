package steps

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/hardware/inject"
	"github.com/goipa/goipa/ipa"
	"github.com/goipa/goipa/tstest/looptest"
)

// Tests on loop devices over sparse files (root only); nothing else is
// ever mounted or written.

var loopName = regexp.MustCompile(`^/dev/loop[0-9]+$`)

func newLoop(t *testing.T, size int64) string {
	t.Helper()
	for _, tool := range []string{"mkfs.ext4", "mkfs.vfat", "sfdisk", "partx"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dev, _ := looptest.New(t, size)
	if !loopName.MatchString(dev) {
		t.Fatalf("refusing %s: not a loop device", dev)
	}
	return dev
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// tree makes a directory tree for mkfs.ext4 -d from path → content;
// content "DIR" makes a directory, "->target" a symlink.
func tree(t *testing.T, files map[string]string) string {
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case c == "DIR":
			err = os.MkdirAll(full, 0o755)
		case strings.HasPrefix(c, "->"):
			err = os.Symlink(c[2:], full)
		default:
			err = os.WriteFile(full, []byte(c), 0o640)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// partitioned gives dev a GPT with a 16 MiB first partition made with
// mkfs1 (none if empty) and an ext4 root filled from src, added to the
// kernel with partx (BLKPG): the test kernel parses no partition tables
// itself.
func partitioned(t *testing.T, dev, src string, mkfs1 ...string) (first, root string) {
	cmd := exec.Command("sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", dev)
	cmd.Stdin = strings.NewReader("label: gpt\nsize=16MiB, type=uefi\ntype=linux\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	_ = exec.Command("partx", "--delete", dev).Run()
	run(t, "partx", "--add", dev)
	first, root = dev+"p1", dev+"p2"
	for _, p := range []string{first, root} {
		for i := 0; ; i++ {
			if _, err := os.Stat(p); err == nil {
				break
			}
			if i == 100 {
				t.Fatalf("%s did not appear", p)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if len(mkfs1) > 0 {
		run(t, mkfs1[0], append(mkfs1[1:], first)...)
	}
	run(t, "mkfs.ext4", "-q", "-F", "-d", src, root)
	return first, root
}

// needFS skips the test when the kernel cannot mount fstype.
func needFS(t *testing.T, fstype string) {
	b, _ := os.ReadFile("/proc/filesystems")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[len(f)-1] == fstype {
			return
		}
	}
	t.Skipf("this kernel has no %s support", fstype)
}

// readBack mounts dev read-only in the test and returns its mount point.
func readBack(t *testing.T, dev, fstype string) string {
	t.Helper()
	mnt := t.TempDir()
	if err := unix.Mount(dev, mnt, fstype, unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("mounting %s to check: %v", dev, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	return mnt
}

// stepFunc registers inject_files and returns it, with the root device
// fixed to dev and mounts under a test directory.
func stepFunc(t *testing.T, dev string) (ipa.StepFunc, string) {
	mounts := t.TempDir()
	g := ipa.NewGeneric()
	RegisterInject(g, 0, inject.Options{MountDir: mounts, Log: slog.New(slog.DiscardHandler)},
		func(context.Context, ipa.Node) (string, error) { return dev, nil })
	fn, ok := g.Func("inject_files")
	if !ok {
		t.Fatal("inject_files not registered")
	}
	return fn, mounts
}

func request(t *testing.T, node map[string]any, args map[string]any) ipa.Request {
	b, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	return ipa.Request{Node: ipa.NewNode(node), Args: b}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// noMountsLeft checks the step unmounted and removed its mount points.
func noMountsLeft(t *testing.T, dev, mounts string) {
	t.Helper()
	info, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(info), mounts) {
		t.Errorf("a mount under %s is left behind", mounts)
	}
	if left, _ := os.ReadDir(mounts); len(left) > 0 {
		t.Errorf("mount points left: %v", left)
	}
}

func statOf(t *testing.T, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestInjectExt4: a whole-device ext4 (no partitions: the device itself
// is searched); a new file with mode, owner and a new leaf directory, an
// existing file rewritten keeping its mode and owner, a file deleted.
func TestInjectExt4(t *testing.T) {
	dev := newLoop(t, 32<<20)
	src := tree(t, map[string]string{"etc/existing": "old", "etc/gone": "bye"})
	if err := os.Chown(filepath.Join(src, "etc/existing"), 42, 43); err != nil {
		t.Fatal(err)
	}
	run(t, "mkfs.ext4", "-q", "-F", "-d", src, dev)
	fn, mounts := stepFunc(t, dev)
	res, err := fn(context.Background(), request(t, map[string]any{"properties": map[string]any{
		"inject_files": []any{map[string]any{"path": "/etc/gone", "deleted": true}},
	}}, map[string]any{"files": []any{
		map[string]any{"path": "/etc/goipa/test.conf", "content": b64("secret=1\n"), "mode": 0o600, "owner": 1234, "group": 5678, "dirmode": 0o700},
		map[string]any{"path": "/etc/existing", "content": b64("new")},
	}}))
	if err != nil {
		t.Fatal(err)
	}
	if rs := res.([]inject.Result); len(rs) != 3 || rs[0].Action != "deleted" || rs[1].Device != dev {
		t.Errorf("result = %+v", res)
	}
	noMountsLeft(t, dev, mounts)

	mnt := readBack(t, dev, "ext4")
	if b, err := os.ReadFile(filepath.Join(mnt, "etc/goipa/test.conf")); err != nil || string(b) != "secret=1\n" {
		t.Errorf("test.conf = %q, %v", b, err)
	}
	if st := statOf(t, filepath.Join(mnt, "etc/goipa/test.conf")); st.Mode&0o7777 != 0o600 || st.Uid != 1234 || st.Gid != 5678 {
		t.Errorf("test.conf mode %#o owner %d:%d, want 0600 1234:5678", st.Mode&0o7777, st.Uid, st.Gid)
	}
	if st := statOf(t, filepath.Join(mnt, "etc/goipa")); st.Mode&0o7777 != 0o700 {
		t.Errorf("new directory mode %#o, want 0700", st.Mode&0o7777)
	}
	if b, _ := os.ReadFile(filepath.Join(mnt, "etc/existing")); string(b) != "new" {
		t.Errorf("existing = %q", b)
	}
	if st := statOf(t, filepath.Join(mnt, "etc/existing")); st.Mode&0o7777 != 0o640 || st.Uid != 42 || st.Gid != 43 {
		t.Errorf("rewritten file mode %#o owner %d:%d, want its old 0640 42:43", st.Mode&0o7777, st.Uid, st.Gid)
	}
	if _, err := os.Lstat(filepath.Join(mnt, "etc/gone")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("deleted file: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(mnt, "etc"))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".goipa-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

// TestInjectSymlinksStayInside: a symlink on the instance's filesystem
// pointing at an absolute path resolves inside that filesystem, never on
// the agent's own.
func TestInjectSymlinksStayInside(t *testing.T) {
	dev := newLoop(t, 32<<20)
	host := t.TempDir()
	src := tree(t, map[string]string{"etc/link": "->" + host, "etc/abs": "->/etc/real", "etc/real": "DIR"})
	run(t, "mkfs.ext4", "-q", "-F", "-d", src, dev)
	fn, _ := stepFunc(t, dev)
	_, err := fn(context.Background(), request(t, nil, map[string]any{"files": []any{
		map[string]any{"path": "/etc/abs/inside", "content": b64("x")},
	}}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = fn(context.Background(), request(t, nil, map[string]any{"files": []any{
		map[string]any{"path": "/etc/link/escaped", "content": b64("x")},
	}}))
	if err == nil {
		t.Error("writing through a link to a directory the instance lacks succeeded")
	}
	if left, _ := os.ReadDir(host); len(left) > 0 {
		t.Fatalf("the agent's filesystem was written through the instance's symlink: %v", left)
	}
	mnt := readBack(t, dev, "ext4")
	if b, err := os.ReadFile(filepath.Join(mnt, "etc/real/inside")); err != nil || string(b) != "x" {
		t.Errorf("file through the absolute in-image link: %q, %v", b, err)
	}
}

// TestInjectPartitions: on a GPT disk with a boot and a root partition, a
// path without partition lands on the partition that has its first
// directory; a partition number or a device path address one directly; a
// missing directory or partition is DeviceNotFound.
func TestInjectPartitions(t *testing.T) {
	dev := newLoop(t, 64<<20)
	boot, root := partitioned(t, dev, tree(t, map[string]string{"etc/hostname": "old\n", "boot": "DIR"}),
		"mkfs.ext4", "-q", "-F", "-d", tree(t, map[string]string{"grub/grub.cfg": "old"}))
	fn, mounts := stepFunc(t, dev)
	res, err := fn(context.Background(), request(t, nil, map[string]any{"files": []any{
		map[string]any{"path": "/etc/hostname", "content": b64("node-1\n"), "mode": 0o644},
		map[string]any{"path": "/grub/grub.cfg", "content": b64("set timeout=1\n")},
		map[string]any{"path": "/loader.conf", "partition": 1, "content": b64("default goipa\n")},
		map[string]any{"path": "/extra.conf", "partition": root, "content": b64("x\n")},
	}}))
	if err != nil {
		t.Fatal(err)
	}
	if rs := res.([]inject.Result); rs[0].Device != root || rs[1].Device != boot || rs[2].Device != boot || rs[3].Device != root {
		t.Errorf("devices = %+v, want %s, %s, %s, %s", rs, root, boot, boot, root)
	}
	noMountsLeft(t, dev, mounts)
	rootMnt, bootMnt := readBack(t, root, "ext4"), readBack(t, boot, "ext4")
	for p, want := range map[string]string{filepath.Join(rootMnt, "etc/hostname"): "node-1\n", filepath.Join(rootMnt, "extra.conf"): "x\n",
		filepath.Join(bootMnt, "grub/grub.cfg"): "set timeout=1\n", filepath.Join(bootMnt, "loader.conf"): "default goipa\n"} {
		if b, err := os.ReadFile(p); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}

	for _, tc := range []struct {
		file map[string]any
		want string
	}{
		{map[string]any{"path": "/nowhere/x", "content": b64("x")}, "no partition of " + dev + " has /nowhere"},
		{map[string]any{"path": "/x", "partition": 7, "content": b64("x")}, "has no partition 7"},
	} {
		_, err := fn(context.Background(), request(t, nil, map[string]any{"files": []any{tc.file}}))
		if e := ipa.AsError(err); e == nil || e.Type != "DeviceNotFound" || !strings.Contains(e.Details, tc.want) {
			t.Errorf("%v: %+v, want DeviceNotFound with %q", tc.file, e, tc.want)
		}
	}
	noMountsLeft(t, dev, mounts)
}

// TestInjectSkipsUnformatted: the search passes over a partition without
// a filesystem (a BIOS boot partition, LVM) to the one with the path.
func TestInjectSkipsUnformatted(t *testing.T) {
	dev := newLoop(t, 64<<20)
	_, root := partitioned(t, dev, tree(t, map[string]string{"etc/motd": "old"}))
	fn, mounts := stepFunc(t, dev)
	res, err := fn(context.Background(), request(t, nil, map[string]any{"files": []any{
		map[string]any{"path": "/etc/motd", "content": b64("hi"), "mode": 0},
	}}))
	if err != nil || res.([]inject.Result)[0].Device != root {
		t.Fatalf("result %+v, %v; want written on %s", res, err, root)
	}
	noMountsLeft(t, dev, mounts)
	p := filepath.Join(readBack(t, root, "ext4"), "etc/motd")
	if st := statOf(t, p); st.Mode&0o7777 != 0 {
		t.Errorf("mode %#o, want the 0000 asked for", st.Mode&0o7777)
	}
}

// TestInjectVFAT: an ESP-like vfat partition is found by its directory
// and written; vfat keeps no owners or modes, so none are asked for.
func TestInjectVFAT(t *testing.T) {
	needFS(t, "vfat")
	dev := newLoop(t, 64<<20)
	esp, _ := partitioned(t, dev, tree(t, map[string]string{"etc/hostname": "old\n"}), "mkfs.vfat")
	mnt := t.TempDir()
	if err := unix.Mount(esp, mnt, "vfat", 0, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(mnt, "EFI"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}
	fn, mounts := stepFunc(t, dev)
	if _, err := fn(context.Background(), request(t, nil, map[string]any{"files": []any{
		map[string]any{"path": "/EFI/BOOT/grub.cfg", "content": b64("set timeout=1\n")},
		map[string]any{"path": "/loader.conf", "partition": esp, "content": b64("default goipa\n")},
	}})); err != nil {
		t.Fatal(err)
	}
	noMountsLeft(t, dev, mounts)
	back := readBack(t, esp, "vfat")
	for p, want := range map[string]string{"EFI/BOOT/grub.cfg": "set timeout=1\n", "loader.conf": "default goipa\n"} {
		if b, err := os.ReadFile(filepath.Join(back, p)); err != nil || string(b) != want {
			t.Errorf("ESP %s = %q, %v", p, b, err)
		}
	}
}

// TestInjectURL: content given as a URL is filled from the node and
// downloaded (from a server on 127.0.0.1); a failing download fails the
// step, naming the URL.
func TestInjectURL(t *testing.T) {
	dev := newLoop(t, 32<<20)
	run(t, "mkfs.ext4", "-q", "-F", dev)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cfg/node-uuid-1" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("from the server\n"))
	}))
	defer srv.Close()
	fn, _ := stepFunc(t, dev)
	node := map[string]any{"uuid": "node-uuid-1"}
	if _, err := fn(context.Background(), request(t, node, map[string]any{"files": []any{
		map[string]any{"path": "/cfg.txt", "partition": dev, "content": srv.URL + "/cfg/{node[uuid]}"},
	}})); err != nil {
		t.Fatal(err)
	}
	_, err := fn(context.Background(), request(t, node, map[string]any{"files": []any{
		map[string]any{"path": "/other.txt", "partition": dev, "content": srv.URL + "/missing"},
	}}))
	if e := ipa.AsError(err); e == nil || !strings.Contains(e.Details, "/missing") {
		t.Errorf("404 download: %+v", e)
	}
	mnt := readBack(t, dev, "ext4")
	if b, err := os.ReadFile(filepath.Join(mnt, "cfg.txt")); err != nil || string(b) != "from the server\n" {
		t.Errorf("cfg.txt = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "other.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed download left other.txt: %v", err)
	}
}

// TestInjectBadSpec: a bad file list is a 400 before anything is mounted.
func TestInjectBadSpec(t *testing.T) {
	fn, _ := stepFunc(t, "/dev/nonexistent")
	for _, args := range []map[string]any{
		{"files": []any{map[string]any{"path": "/etc/x", "content": "%%%"}}},
		{"files": "etc/x"},
		{"files": []any{}, "verify_ca": "/etc/ca.pem"},
	} {
		_, err := fn(context.Background(), request(t, nil, args))
		if e := ipa.AsError(err); e == nil || e.Code != http.StatusBadRequest || e.Type != "InvalidCommandParamsError" {
			t.Errorf("%v: %+v, want a 400", args, e)
		}
	}
	// Nothing to inject is a success, as in IPA.
	if res, err := fn(context.Background(), request(t, nil, map[string]any{"files": []any{}})); err != nil || res != nil {
		t.Errorf("no files: %v, %v", res, err)
	}
}

func TestVerifyCA(t *testing.T) {
	// JSON 1 and 0 are oslo's "1" and "0" (bool_from_string(strict=True)).
	for in, want := range map[any]bool{nil: true, true: true, false: false, "false": false, "True": true, 1.0: true, 0.0: false} {
		if got, err := verifyCA(in); err != nil || got != want {
			t.Errorf("verifyCA(%v) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []any{"/etc/ca.pem", 2.0, 0.5} {
		if _, err := verifyCA(bad); !errors.Is(err, inject.ErrInvalidSpec) {
			t.Errorf("verifyCA(%v) = %v, want inject.ErrInvalidSpec", bad, err)
		}
	}
}
