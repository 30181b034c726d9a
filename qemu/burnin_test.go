package qemu

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/tstest/fakeironic"
)

// execStep runs one step of kind (deploy, clean or service) as the
// conductor does and returns its <kind>_result.
func execStep(ctx context.Context, t *testing.T, c *fakeironic.Conductor, kind string, steps *fakeironic.Steps, step fakeironic.Step) (json.RawMessage, error) {
	t.Helper()
	if _, err := c.ExecuteStep(ctx, kind, step, steps.HardwareManagerVersion); err != nil {
		return nil, err
	}
	r, err := c.WaitStep(ctx, kind, step)
	if err != nil {
		return nil, err
	}
	var res map[string]json.RawMessage
	if err := r.Decode(&res); err != nil {
		t.Fatalf("%s: %v", step.Step, err)
	}
	return res[kind+"_result"], nil
}

// TestBurnin: in manual cleaning, burnin_cpu, burnin_memory and burnin_disk
// run with the node's short driver_info knobs and report what they did;
// afterwards the two disks hold pseudo-random data instead of their old
// contents, while the disk in skip_block_devices is as it was. A knob that
// is not a time fails the step with a message naming it.
func TestBurnin(t *testing.T) {
	kernel, initrd := Images(t)
	const diskSize = 48 << 20
	l := newLab(t, map[string]any{"skip_block_devices": []any{map[string]any{"serial": "keep"}}})
	l.ironic.UpdateNode(l.node.UUID, func(n *fakeironic.Node) {
		n.ProvisionState = "clean wait"
		// As the baremetal CLI sets them: strings, and a unit on one time.
		n.DriverInfo = map[string]any{
			"agent_burnin_cpu_timeout":    "3",
			"agent_burnin_vm_timeout":     "2s",
			"agent_burnin_vm_vm-bytes":    "32M",
			"agent_burnin_fio_disk_loops": "1",
		}
	})
	old := map[string][]byte{}
	var disks []Disk
	for _, serial := range []string{"burn-a", "burn-b", "keep"} {
		p := SparseDisk(t, diskSize)
		line := []byte("old data on " + serial + " ")
		old[p] = bytes.Repeat(line, diskSize/len(line)+1)[:diskSize]
		if err := os.WriteFile(p, old[p], 0o644); err != nil {
			t.Fatal(err)
		}
		disks = append(disks, Disk{Path: p, Serial: serial})
	}
	keep := disks[2].Path
	// Two CPUs, so the CPU and memory burn-ins run a worker on each.
	// no_timer_check: under TCG on a busy host the kernel's IO-APIC timer
	// check can miss ticks and panic an SMP guest at boot.
	vm := Start(t, Options{Kernel: kernel, Initrd: initrd, MemMB: 512, CPUs: 2, Append: l.append() + " no_timer_check", Advertise: true,
		GuestFwds: l.fwds, Disks: disks})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := l.conductor(ctx, t)
	defer c.Close()
	c.PollInterval = time.Second
	steps, err := c.GetSteps(ctx, "clean")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"burnin_cpu", "burnin_memory", "burnin_disk", "burnin_network"} {
		// Offered for manual cleaning only: priority 0, abortable.
		if s, ok := steps.Find("deploy", name); !ok || s.Priority != 0 || !s.Abortable {
			t.Errorf("clean step %s: %+v (offered %v), want priority 0, abortable", name, s, ok)
		}
	}

	start := time.Now()
	res, err := execStep(ctx, t, c, "clean", steps, fakeironic.Step{Interface: "deploy", Step: "burnin_cpu"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("burnin_cpu: %v: %s", time.Since(start).Round(time.Millisecond), res)
	var cpu struct {
		Workers int
		Rounds  int64
		Seconds float64
	}
	if json.Unmarshal(res, &cpu) != nil || cpu.Workers != 2 || cpu.Rounds < 2 || cpu.Seconds < 3 || cpu.Seconds > 30 {
		t.Errorf("burnin_cpu result %s: want 2 workers (the VM's CPUs), rounds, about 3 s", res)
	}

	start = time.Now()
	res, err = execStep(ctx, t, c, "clean", steps, fakeironic.Step{Interface: "deploy", Step: "burnin_memory"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("burnin_memory: %v: %s", time.Since(start).Round(time.Millisecond), res)
	var mem struct {
		Workers int
		Bytes   int64
		Rounds  int64
		Seconds float64
	}
	if json.Unmarshal(res, &mem) != nil || mem.Workers != 2 || mem.Bytes != 32<<20 || mem.Rounds < 2 || mem.Seconds < 2 || mem.Seconds > 60 {
		t.Errorf("burnin_memory result %s: want 2 workers, 32 MiB, a round each, about 2 s", res)
	}

	start = time.Now()
	res, err = execStep(ctx, t, c, "clean", steps, fakeironic.Step{Interface: "deploy", Step: "burnin_disk"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("burnin_disk: %v: %s", time.Since(start).Round(time.Millisecond), res)
	var results []struct {
		Device   string
		Status   string
		Passes   int
		Written  int64 `json:"bytes_written"`
		Verified int64 `json:"bytes_verified"`
	}
	if err := json.Unmarshal(res, &results); err != nil {
		t.Fatalf("burnin_disk result %s: %v", res, err)
	}
	var devs []string
	for _, r := range results {
		devs = append(devs, r.Device)
		if r.Status != "passed" || r.Passes != 1 || r.Written != diskSize || r.Verified != diskSize {
			t.Errorf("burnin_disk on %s: %+v, want passed, one pass, %d bytes written and verified", r.Device, r, diskSize)
		}
	}
	slices.Sort(devs)
	if !slices.Equal(devs, []string{"/dev/vda", "/dev/vdb"}) {
		t.Errorf("burnin_disk ran on %v, want /dev/vda and /dev/vdb (vdc is in skip_block_devices)", devs)
	}

	// A bad knob: the step fails and says which.
	l.ironic.UpdateNode(l.node.UUID, func(n *fakeironic.Node) { n.DriverInfo["agent_burnin_cpu_timeout"] = "soon" })
	_, err = execStep(ctx, t, c, "clean", steps, fakeironic.Step{Interface: "deploy", Step: "burnin_cpu"})
	if !errors.Is(err, fakeironic.ErrStepFailed) || !strings.Contains(err.Error(), "agent_burnin_cpu_timeout") {
		t.Errorf("burnin_cpu with timeout \"soon\": %v, want a failed step naming agent_burnin_cpu_timeout", err)
	}
	vm.Kill()

	var burnt [][]byte
	for _, d := range disks[:2] {
		got := ReadAt(t, d.Path, 0, diskSize)
		burnt = append(burnt, got)
		for off := 0; off < diskSize; off += 4096 {
			blk := got[off : off+4096]
			if bytes.Equal(blk, old[d.Path][off:off+4096]) || bytes.Count(blk, []byte{0}) == len(blk) {
				t.Errorf("%s: block at %d was not burnt in (old data or zeros)", d.Serial, off)
				break
			}
		}
		if n := compressed(got[:8<<20]); n < 8<<20*99/100 {
			t.Errorf("%s: 8 MiB compress to %d bytes: not the pseudo-random burn-in pattern", d.Serial, n)
		}
	}
	if bytes.Equal(burnt[0][:1<<20], burnt[1][:1<<20]) {
		t.Error("both disks hold the same data: the pattern must differ per disk")
	}
	if !bytes.Equal(ReadAt(t, keep, 0, diskSize), old[keep]) {
		t.Error("the disk in skip_block_devices changed")
	}
}

// compressed is the size of b after flate: pseudo-random data does not shrink.
func compressed(b []byte) int {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	w.Write(b)
	w.Close()
	return buf.Len()
}
