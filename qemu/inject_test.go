package qemu

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/tstest/fakeironic"
)

// TestInjectFiles plays a deploy with a user-requested inject_files step
// after write_image, as Ironic runs it: the image has an ext4 root and a
// vfat ESP. A file found by its directory lands on the ext4 partition with
// the requested mode, owner and leaf-directory mode; a file for partition 2
// lands on the ESP; a deleted file is gone. A path no partition has fails
// the step with DeviceNotFound. After power off both filesystems are clean
// and keep their other files.
func TestInjectFiles(t *testing.T) {
	kernel, initrd := Images(t)
	img := NewFSImage(t, map[string]string{"etc/hostname": "image-host\n", "etc/motd": "welcome\n"},
		map[string]string{"EFI/BOOT/old.cfg": "old config\n"})
	l := newLab(t, map[string]any{"root_device": map[string]any{"serial": "target"}})
	url, sum := l.publish(t, "fs.raw", img.Data)
	target := SparseDisk(t, 64<<20)
	vm := Start(t, Options{Kernel: kernel, Initrd: initrd, MemMB: 256, Append: l.append(), Advertise: true,
		GuestFwds: l.fwds, Disks: []Disk{{Path: target, Serial: "target"}}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := l.conductor(ctx, t)
	defer c.Close()
	c.PollInterval = time.Second
	steps, err := c.GetSteps(ctx, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	// Without ipa-inject-files-priority it runs only when asked for.
	if s, ok := steps.Find("deploy", "inject_files"); !ok || s.Priority != 0 {
		t.Errorf("deploy step inject_files: %+v (offered %v), want priority 0", s, ok)
	}
	start := time.Now()
	if _, err := execStep(ctx, t, c, "deploy", steps, fakeironic.Step{Interface: "deploy", Step: "write_image", Priority: 80,
		Args: map[string]any{"configdrive": nil, "image_info": fakeironic.ImageInfo{ID: "fs.raw", URLs: []string{url},
			DiskFormat: "raw", OSHashAlgo: "sha256", OSHashValue: sum, StreamRawImages: true, NodeUUID: l.node.UUID}}}); err != nil {
		t.Fatalf("write_image: %v", err)
	}
	t.Logf("write_image: %v", time.Since(start).Round(time.Millisecond))

	conf, cfg := "injected by goipa\n\x00\xff\n", "set timeout=1\n"
	b64 := base64.StdEncoding.EncodeToString
	start = time.Now()
	res, err := execStep(ctx, t, c, "deploy", steps, fakeironic.Step{Interface: "deploy", Step: "inject_files", Priority: 70,
		Args: map[string]any{"files": []any{
			map[string]any{"path": "/etc/goipa/injected.conf", "content": b64([]byte(conf)),
				"mode": 0o600, "dirmode": 0o750, "owner": 1000, "group": 100},
			map[string]any{"path": "/EFI/BOOT/goipa.cfg", "partition": 2, "content": b64([]byte(cfg))},
			map[string]any{"path": "/etc/motd", "deleted": true},
		}}})
	if err != nil {
		t.Fatalf("inject_files: %v", err)
	}
	t.Logf("inject_files: %v: %s", time.Since(start).Round(time.Millisecond), res)
	var results []struct{ Path, Device, Action string }
	json.Unmarshal(res, &results)
	want := []struct{ Path, Device, Action string }{
		{"/etc/goipa/injected.conf", "/dev/vda1", "written"},
		{"/EFI/BOOT/goipa.cfg", "/dev/vda2", "written"},
		{"/etc/motd", "/dev/vda1", "deleted"},
	}
	if len(results) != len(want) {
		t.Errorf("inject_files result %s, want %+v", res, want)
	} else {
		for i := range want {
			if results[i] != want[i] {
				t.Errorf("inject_files result %d: %+v, want %+v", i, results[i], want[i])
			}
		}
	}

	_, err = execStep(ctx, t, c, "deploy", steps, fakeironic.Step{Interface: "deploy", Step: "inject_files", Priority: 70,
		Args: map[string]any{"files": []any{map[string]any{"path": "/srv/nowhere/file", "content": b64([]byte("x"))}}}})
	if !errors.Is(err, fakeironic.ErrStepFailed) || !strings.Contains(err.Error(), "no partition of /dev/vda has /srv") {
		t.Errorf("inject_files to a directory no partition has: %v, want a failed step naming /srv", err)
	}

	if _, err := c.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	if err := vm.Wait(time.Minute); err != nil {
		t.Fatalf("VM did not power off: %v", err)
	}

	f, ok := ReadExt(t, target, img.Ext, "/etc/goipa/injected.conf")
	if !ok || f.Type != "regular" || string(f.Content) != conf || f.Mode != 0o600 || f.UID != 1000 || f.GID != 100 {
		t.Errorf("ext4 /etc/goipa/injected.conf: %+v (found %v), want %q mode 0600 owner 1000:100", f, ok, conf)
	}
	if d, ok := ReadExt(t, target, img.Ext, "/etc/goipa"); !ok || d.Type != "directory" || d.Mode != 0o750 {
		t.Errorf("ext4 /etc/goipa: %+v (found %v), want a directory with mode 0750", d, ok)
	}
	if _, ok := ReadExt(t, target, img.Ext, "/etc/motd"); ok {
		t.Error("ext4 /etc/motd is still there after its deletion")
	}
	if f, ok := ReadExt(t, target, img.Ext, "/etc/hostname"); !ok || string(f.Content) != "image-host\n" {
		t.Errorf("ext4 /etc/hostname: %+v (found %v), want the image's", f, ok)
	}
	if b, ok := ReadFAT(t, target, img.FAT, "/EFI/BOOT/goipa.cfg"); !ok || string(b) != cfg {
		t.Errorf("vfat /EFI/BOOT/goipa.cfg: %q (found %v), want %q", b, ok, cfg)
	}
	if b, ok := ReadFAT(t, target, img.FAT, "/EFI/BOOT/old.cfg"); !ok || string(b) != "old config\n" {
		t.Errorf("vfat /EFI/BOOT/old.cfg: %q (found %v), want the image's", b, ok)
	}
	for _, p := range []struct {
		e      Extent
		fstype string
	}{{img.Ext, "ext4"}, {img.FAT, "vfat"}} {
		if msg := CheckFS(t, target, p.e, p.fstype); msg != "" {
			t.Errorf("%s is not clean after the injection:\n%s", p.fstype, msg)
		}
	}
	if !bytes.Equal(ReadAt(t, target, 0, 512), img.Data[:512]) {
		t.Error("the partition table changed")
	}
}
