package burnin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func fakeMeminfo(t *testing.T, availMiB, totalMiB int64) string {
	p := filepath.Join(t.TempDir(), "meminfo")
	s := "MemTotal:       " + strconv.FormatInt(totalMiB<<10, 10) + " kB\nMemFree:        1000 kB\nMemAvailable:   " + strconv.FormatInt(availMiB<<10, 10) + " kB\n"
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMemoryBudget(t *testing.T) {
	for _, tc := range []struct {
		name         string
		bytes        string
		avail, total int64 // MiB
		want, req    int64 // MiB
		err          bool
	}{
		{"small request kept", "64M", 4096, 8192, 64, 64, false},
		{"98% clamped to leave a reserve", "98%", 4096, 8192, 4096 - 512, 4014, false},
		{"reserve at least 256 MiB", "100%", 1024, 2048, 1024 - 256, 1024, false},
		{"too little memory", "98%", 200, 512, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, req, err := memoryBudget(MemoryOptions{Bytes: tc.bytes, meminfo: fakeMeminfo(t, tc.avail, tc.total)})
			if (err != nil) != tc.err {
				t.Fatalf("err = %v", err)
			}
			if err == nil && (got != tc.want<<20 || req>>20 != tc.req) {
				t.Errorf("budget = %d MiB (asked %d MiB), want %d (%d)", got>>20, req>>20, tc.want, tc.req)
			}
		})
	}
}

func TestMemoryPasses(t *testing.T) {
	res, err := Memory(context.Background(), MemoryOptions{Workers: 2, Bytes: "8M", Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Bytes != 8<<20 || res.Workers != 2 || res.Rounds < 2 {
		t.Errorf("result = %+v", res)
	}
}

// TestMemoryDetectsFault: one flipped bit between writing and reading back
// fails the burn-in with its offset.
func TestMemoryDetectsFault(t *testing.T) {
	o := MemoryOptions{Workers: 1, Bytes: "4M", Timeout: time.Hour}
	o.fault = func(round int, region []byte) {
		if round == 2 { // the inverted pattern
			region[3<<20+5] ^= 0x10
		}
	}
	_, err := Memory(context.Background(), o)
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "offset 3145733") || !strings.Contains(err.Error(), "round 2") {
		t.Fatalf("err = %v, want a mismatch at offset 3145733 in round 2", err)
	}
}
