package disk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// zeroChunk is how much PrepareZero asks the kernel to zero per call.
	zeroChunk = 1 << 30
	// zeroFastEnough: a first chunk slower than this means the device is
	// writing zeros physically (e.g. SCSI WRITE SAME on a spinning disk), so
	// zeroing everything up front would cost more than it saves.
	zeroFastEnough = 250 * time.Millisecond
)

// PrepareZero zeroes the whole device if that is cheap, so that the writer
// can skip all-zero blocks (Zeroed reports the outcome). Methods, in order:
// fallocate(PUNCH_HOLE), which the kernel only performs through write-zeroes
// offload (on loop devices it punches holes into the backing file);
// BLKZEROOUT when the queue advertises write-zeroes; BLKDISCARD when the
// queue guarantees discarded blocks read back as zeros. It returns
// ErrZeroNotCheap when none applies; the device is then left as it was or
// partly zeroed, which is harmless because the writer writes every byte.
func (d *Disk) PrepareZero(ctx context.Context) error {
	d.zeroed = false
	methods := d.zeroMethods()
	if len(methods) == 0 {
		return ErrZeroNotCheap
	}
	var errs []error
	for _, m := range methods {
		err := d.zeroWith(ctx, m)
		if err == nil {
			d.zeroed = true
			d.log.Info("zeroed device up front", "method", m.name)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		errs = append(errs, fmt.Errorf("%s: %w", m.name, err))
	}
	return fmt.Errorf("%w: %w", ErrZeroNotCheap, errors.Join(errs...))
}

// Zeroed reports whether the whole device is known to read zeros.
func (d *Disk) Zeroed() bool { return d.zeroed }

type zeroMethod struct {
	name string
	fn   func(off, n int64) error
}

func (d *Disk) zeroMethods() []zeroMethod {
	punch := zeroMethod{"fallocate punch-hole", func(off, n int64) error {
		return unix.Fallocate(d.dev.Fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	}}
	if !d.dev.Block {
		return []zeroMethod{punch}
	}
	var ms []zeroMethod
	if d.queueInt("write_zeroes_max_bytes") > 0 {
		ms = append(ms, punch, zeroMethod{"BLKZEROOUT", func(off, n int64) error {
			return ioctlRange(d.dev.Fd, unix.BLKZEROOUT, off, n)
		}})
	}
	// discard_zeroes_data only exists (and can be 1) on kernels before 4.12.
	if d.queueInt("discard_zeroes_data") == 1 {
		ms = append(ms, zeroMethod{"BLKDISCARD", func(off, n int64) error {
			return ioctlRange(d.dev.Fd, unix.BLKDISCARD, off, n)
		}})
	}
	return ms
}

func (d *Disk) queueInt(name string) int64 {
	b, err := os.ReadFile(filepath.Join(d.sysDir, "queue", name))
	if err != nil {
		// A partition has no queue/ of its own; its disk's is one level up.
		b, err = os.ReadFile(filepath.Join(d.sysDir, "..", "queue", name))
		if err != nil {
			return 0
		}
	}
	v, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v
}

func (d *Disk) zeroWith(ctx context.Context, m zeroMethod) error {
	for off := int64(0); off < d.dev.Size; off += zeroChunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(zeroChunk, d.dev.Size-off)
		start := time.Now()
		if err := m.fn(off, n); err != nil {
			return err
		}
		if off == 0 && n == zeroChunk && time.Since(start) > zeroFastEnough {
			return fmt.Errorf("took %s for the first GiB", time.Since(start).Round(time.Millisecond))
		}
	}
	return nil
}

// isZero reports whether b is all zeros, comparing eight words at a time.
// b must be 8-byte aligned (writer buffers are 4 KiB aligned).
func isZero(b []byte) bool {
	w := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/8)
	i := 0
	for ; i+8 <= len(w); i += 8 {
		if w[i]|w[i+1]|w[i+2]|w[i+3]|w[i+4]|w[i+5]|w[i+6]|w[i+7] != 0 {
			return false
		}
	}
	for ; i < len(w); i++ {
		if w[i] != 0 {
			return false
		}
	}
	for _, c := range b[len(w)*8:] {
		if c != 0 {
			return false
		}
	}
	return true
}
