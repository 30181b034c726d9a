package burnin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// MemoryResult is burnin_memory's report.
type MemoryResult struct {
	Workers int   `json:"workers"`
	Bytes   int64 `json:"bytes"`
	// Requested is what vm-bytes asked for, when the agent tested less to
	// keep itself alive.
	Requested int64   `json:"requested_bytes,omitempty"`
	Rounds    int64   `json:"rounds"`
	Seconds   float64 `json:"seconds"`
}

const (
	memChunk = 1 << 20
	// memReserve is what the burn-in leaves of available memory at least:
	// the agent, its ramdisk and the kernel must keep running.
	memReserve = 256 << 20
	memMin     = memChunk
)

// Memory is burnin_memory: the workers map o.Bytes of memory between them
// (a percentage is of MemAvailable; either is clamped to what can be taken
// without starving the agent), then, round after round until o.Timeout,
// fill it with a position-dependent pattern (alternating with its inverse,
// so every bit is tested at 0 and 1) and read it all back. A difference
// stops the burn-in with ErrMismatch; every worker completes a round.
func Memory(ctx context.Context, o MemoryOptions) (MemoryResult, error) {
	workers := o.Workers
	if workers == 0 {
		workers = len(usableCPUs())
	}
	total, requested, err := memoryBudget(o)
	if err != nil {
		return MemoryResult{}, err
	}
	res := MemoryResult{Workers: workers, Bytes: total}
	if requested > total {
		res.Requested = requested
	}
	per := total / int64(workers) / memChunk * memChunk
	if per == 0 {
		workers, per = int(total/memChunk), memChunk
		res.Workers = workers
	}
	res.Bytes = per * int64(workers)

	res.Rounds, res.Seconds, err = runWorkers(ctx, workers, o.Timeout, func(w int, next func() bool) error {
		return memWorker(w, per, next, o.fault)
	})
	return res, err
}

func memWorker(w int, size int64, next func() bool, fault func(int, []byte)) error {
	// Outside the Go heap, so it goes back to the kernel at once.
	region, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("worker %d: mapping %d bytes: %w", w, size, err)
	}
	defer unix.Munmap(region)
	want := make([]byte, memChunk)
	var p *pattern
	for round := 1; ; round++ {
		if round%2 == 1 {
			p = newPattern()
		} else {
			p.invert = true
		}
		for off := 0; off < len(region); off += memChunk {
			p.fill(region[off:off+memChunk], int64(off))
		}
		if fault != nil {
			fault(round, region)
		}
		for off := 0; off < len(region); off += memChunk {
			p.fill(want, int64(off))
			if err := mismatch(region[off:off+memChunk], want, int64(off)); err != nil {
				return fmt.Errorf("worker %d, round %d: %w", w, round, err)
			}
		}
		if !next() {
			return nil
		}
	}
}

// memoryBudget turns vm-bytes into bytes, clamped to MemAvailable less a
// reserve. It returns the bytes to test and the bytes asked for.
func memoryBudget(o MemoryOptions) (budget, requested int64, err error) {
	bytes, percent, err := parseSize(o.Bytes)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %s: %w", ErrInvalidOption, keyVMBytes, err)
	}
	path := o.meminfo
	if path == "" {
		path = "/proc/meminfo"
	}
	avail, totalMem, err := readMeminfo(path)
	if err != nil {
		return 0, 0, err
	}
	requested = bytes
	if percent > 0 {
		requested = int64(float64(avail) * percent / 100)
	}
	limit := avail - max(memReserve, totalMem/16)
	budget = min(requested, limit) / memChunk * memChunk
	if budget < memMin {
		return 0, 0, fmt.Errorf("only %d bytes of memory available: too little to burn in while keeping the agent alive", avail)
	}
	return budget, requested, nil
}

// readMeminfo returns MemAvailable and MemTotal in bytes.
func readMeminfo(path string) (avail, total int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "MemAvailable":
			avail = n << 10
		case "MemTotal":
			total = n << 10
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if avail == 0 || total == 0 {
		return 0, 0, errors.New(path + ": no MemAvailable or MemTotal")
	}
	return avail, total, nil
}
