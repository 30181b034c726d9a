package hardware

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
)

// TestBenchInventory is `make bench`'s inventory row: the median time of 20
// inventory collections on this machine (goal: 100 ms; IPA shells out to
// lshw and lsblk and takes seconds). It needs GOIPA_BENCH=1.
func TestBenchInventory(t *testing.T) {
	if os.Getenv("GOIPA_BENCH") == "" {
		t.Skip("set GOIPA_BENCH=1 (make bench)")
	}
	var ds []time.Duration
	for range 20 {
		start := time.Now()
		if _, err := Inventory(InventoryOptions{}); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	fmt.Printf("BENCH inventory collection (median of 20)  %v  (goal 100 ms)\n", ds[len(ds)/2].Round(100*time.Microsecond))
}
