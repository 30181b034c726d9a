package e2e

import (
	"context"
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/e2e/ironiclab"
	"github.com/goipa/goipa/qemu"
)

// TestRealIronicSteps runs goipa's burn-in and inject_files steps under
// Debian's Ironic: manual cleaning with burnin_cpu and burnin_memory, their
// knobs in driver_info, and a deploy whose provision request adds an
// inject_files deploy step (API 1.69's deploy_steps) after write_image.
func TestRealIronicSteps(t *testing.T) {
	forEachRelease(t, testRealIronicSteps)
}

func testRealIronicSteps(t *testing.T, rel ironiclab.Release) {
	w := newWorld(t, ironiclab.Options{Release: rel})

	t.Run("burnin", func(t *testing.T) {
		const cpuSecs, memSecs = 4, 3
		m := w.enroll(t, ironiclab.NodeSpec{DriverInfo: map[string]any{
			"agent_burnin_cpu_timeout": cpuSecs, "agent_burnin_vm_timeout": memSecs, "agent_burnin_vm_vm-bytes": "16M"}},
			[]qemu.Disk{{Path: qemu.SparseDisk(t, 64<<20), Serial: "disk"}})
		// burnin_memory keeps 256 MiB for the ramdisk and agent.
		m.vm.MemMB = 512
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		if _, err := m.provision(ctx, map[string]any{"target": "manage"}, "manageable"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		n, err := m.provision(ctx, map[string]any{"target": "clean", "clean_steps": []any{
			map[string]any{"interface": "deploy", "step": "burnin_cpu"},
			map[string]any{"interface": "deploy", "step": "burnin_memory"}}}, "manageable")
		if err != nil {
			t.Fatalf("manual cleaning with burn-in: %v", err)
		}
		took := time.Since(start)
		t.Logf("burnin_cpu + burnin_memory: clean → manageable %v", took.Round(time.Millisecond))
		if n.LastError != nil && *n.LastError != "" {
			t.Errorf("last_error %q after the burn-in", *n.LastError)
		}
		// The steps ran for their timeouts, no longer than a boot allows.
		if took < (cpuSecs+memSecs)*time.Second || took > 3*time.Minute {
			t.Errorf("cleaning took %v: want the knobs' %d s of burn-in plus a boot", took, cpuSecs+memSecs)
		}
		// What the agent answered, as the conductor logs it: the knobs set
		// through Ironic's API reached the steps.
		cpu := regexp.MustCompile(`'clean_result': \{'workers': 1, 'rounds': \d+, 'seconds': ([0-9.]+)\}`).
			FindStringSubmatch(agentResult(t, w.lab.Log(), n.UUID, "clean", "burnin_cpu"))
		if cpu == nil || atof(cpu[1]) < cpuSecs || atof(cpu[1]) > 30 {
			t.Errorf("burnin_cpu result %v: want one worker (the VM's CPU) for about %d s", cpu, cpuSecs)
		}
		mem := regexp.MustCompile(`'clean_result': \{'workers': 1, 'bytes': 16777216, 'rounds': \d+, 'seconds': ([0-9.]+)\}`).
			FindStringSubmatch(agentResult(t, w.lab.Log(), n.UUID, "clean", "burnin_memory"))
		if mem == nil || atof(mem[1]) < memSecs || atof(mem[1]) > 30 {
			t.Errorf("burnin_memory result %v: want 16 MiB for about %d s", mem, memSecs)
		}
		if m.boots != 1 {
			t.Errorf("%d ramdisk boots, want 1", m.boots)
		}
	})

	t.Run("inject-files", func(t *testing.T) {
		img := qemu.NewFSImage(t, map[string]string{"etc/hostname": "image-host\n"},
			map[string]string{"EFI/BOOT/old.cfg": "old config\n"})
		url, sum := w.publish(t, "fs.raw", img.Data)
		target := qemu.SparseDisk(t, 256<<20)
		m := w.enroll(t, ironiclab.NodeSpec{RootDevice: map[string]any{"serial": "target"}},
			[]qemu.Disk{{Path: target, Serial: "target"}})
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		conf, cfg := "injected through ironic\n", "set timeout=1\n"
		b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
		start := time.Now()
		// Priority 70: after write_image (80), before prepare_instance_boot
		// (60) and tear_down_agent (40), which powers the agent off.
		n, err := m.deployImage(ctx, url, sum, "raw", map[string]any{"deploy_steps": []any{map[string]any{
			"interface": "deploy", "step": "inject_files", "priority": 70,
			"args": map[string]any{"files": []any{
				map[string]any{"path": "/etc/goipa/injected.conf", "content": b64(conf), "mode": 0o640},
				map[string]any{"path": "/EFI/BOOT/goipa.cfg", "partition": 2, "content": b64(cfg)},
			}}}}})
		if err != nil {
			t.Fatalf("deploy with inject_files: %v", err)
		}
		t.Logf("deploy + inject_files: provision request → active %v", time.Since(start).Round(time.Millisecond))
		if n.LastError != nil && *n.LastError != "" {
			t.Errorf("last_error %q after the deploy", *n.LastError)
		}
		res := agentResult(t, w.lab.Log(), n.UUID, "deploy", "inject_files")
		if !strings.Contains(res, `'deploy_result': [{'path': '/etc/goipa/injected.conf', 'device': '/dev/vda1', 'action': 'written'}, `+
			`{'path': '/EFI/BOOT/goipa.cfg', 'device': '/dev/vda2', 'action': 'written'}]`) {
			t.Errorf("inject_files answered %s, want both files written, on vda1 and vda2", res)
		}
		f, ok := qemu.ReadExt(t, target, img.Ext, "/etc/goipa/injected.conf")
		if !ok || string(f.Content) != conf || f.Mode != 0o640 {
			t.Errorf("ext4 /etc/goipa/injected.conf: %+v (found %v), want %q mode 0640", f, ok, conf)
		}
		if f, ok := qemu.ReadExt(t, target, img.Ext, "/etc/hostname"); !ok || string(f.Content) != "image-host\n" {
			t.Errorf("ext4 /etc/hostname: %+v (found %v), want the image's", f, ok)
		}
		if b, ok := qemu.ReadFAT(t, target, img.FAT, "/EFI/BOOT/goipa.cfg"); !ok || string(b) != cfg {
			t.Errorf("vfat /EFI/BOOT/goipa.cfg: %q (found %v), want %q", b, ok, cfg)
		}
		for _, p := range []struct {
			e      qemu.Extent
			fstype string
		}{{img.Ext, "ext4"}, {img.FAT, "vfat"}} {
			if msg := qemu.CheckFS(t, target, p.e, p.fstype); msg != "" {
				t.Errorf("%s is not clean after the deploy:\n%s", p.fstype, msg)
			}
		}
	})
}

// agentResult finds, in Ironic's debug log, the finished agent command the
// conductor judged for a node's step ("<kind> command status for node …
// on step {…}: {…}") and returns that line from the command on.
func agentResult(t *testing.T, log, node, kind, step string) string {
	t.Helper()
	re := regexp.MustCompile(kind + ` command status for node ` + node + ` on step \{[^\n]*?'step': '` + step +
		`'[^\n]*?\}: (\{[^\n]*'command_status': 'SUCCEEDED'[^\n]*)`)
	m := re.FindStringSubmatch(log)
	if m == nil {
		t.Errorf("ironic.log shows no finished %s step %s for node %s", kind, step, node)
		return ""
	}
	return m[1]
}

func atof(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}
