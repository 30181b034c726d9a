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
	kernel, server := Images(t)
	vm := VMInitrd(t)
	// Alternating, so a burst of load elsewhere hits both profiles.
	const boots = 5
	times := map[string][]time.Duration{}
	for range boots {
		for _, initrd := range []string{vm, server} {
			l := newLab(t, nil)
			m := Start(t, Options{Kernel: kernel, Initrd: initrd, GuestFwds: l.fwds, Append: l.append()})
			hb := l.firstHeartbeat(t)
			times[initrd] = append(times[initrd], hb.Time.Sub(m.Started()))
			m.Kill()
		}
	}
	median := func(initrd string) float64 {
		ts := times[initrd]
		slices.Sort(ts)
		return ts[boots/2].Seconds()
	}
	for _, p := range []struct {
		name, initrd string
		goal         string
	}{{"vm", vm, "8000000"}, {"server", server, "40000000"}} {
		st, err := os.Stat(p.initrd)
		if err != nil {
			t.Fatal(err)
		}
		ts := times[p.initrd]
		fmt.Printf("BENCH initramfs %-6s (compressed)  %d bytes  (goal %s)\n", p.name, st.Size(), p.goal)
		fmt.Printf("BENCH QEMU start → first heartbeat, DHCP, %-6s  median %.2f s  (accel %s, %d boots, min %.2f, max %.2f)\n",
			p.name, median(p.initrd), Accel(kernel), boots, ts[0].Seconds(), ts[boots-1].Seconds())
	}
	fmt.Printf("BENCH server ÷ vm boot  %.2f  (goals: vm ≤ 5 s, server ≤ 1.1 × vm)\n", median(server)/median(vm))
}
