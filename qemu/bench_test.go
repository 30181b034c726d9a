package qemu

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
)

// BenchEnv enables TestBootBench (`make bench`).
const BenchEnv = "GOIPA_BENCH"

// TestBootBench prints the rows `make bench` reports: the compressed
// initramfs size and the median over 5 boots of QEMU start → first heartbeat
// (DHCP, TCG unless KVM works). Boots run one after another.
func TestBootBench(t *testing.T) {
	if os.Getenv(BenchEnv) == "" {
		t.Skipf("set %s=1 to measure boots", BenchEnv)
	}
	kernel, initrd := Images(t)
	st, err := os.Stat(initrd)
	if err != nil {
		t.Fatal(err)
	}
	const boots = 5
	var times []time.Duration
	for range boots {
		l := newLab(t, nil)
		vm := Start(t, Options{Kernel: kernel, Initrd: initrd, GuestFwds: l.fwds, Append: l.append()})
		hb := l.firstHeartbeat(t)
		times = append(times, hb.Time.Sub(vm.Started()))
		vm.Kill()
	}
	slices.Sort(times)
	fmt.Printf("BENCH initramfs (compressed)  %d bytes  (goal 8000000)\n", st.Size())
	fmt.Printf("BENCH QEMU start → first heartbeat, DHCP  median %.2f s  (goal 5 s; accel %s, %d boots, min %.2f, max %.2f)\n",
		times[boots/2].Seconds(), Accel(kernel), boots, times[0].Seconds(), times[boots-1].Seconds())
}
