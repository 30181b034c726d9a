package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/goipa/goipa/internal/directio"
)

const garbage = 0xaa

// writeAndCheck streams img onto target (pre-filled with garbage) and checks
// the read-back, what lies after the image and the stats.
func writeAndCheck(t *testing.T, target string, img []byte, zero bool, blockSize int) Stats {
	t.Helper()
	d, err := Open(target, Options{AllowFile: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if zero {
		if err := d.PrepareZero(context.Background()); err != nil {
			t.Fatalf("PrepareZero: %v", err)
		}
	}
	w, err := d.Writer(context.Background(), WriterOptions{BlockSize: blockSize, ImageSize: int64(len(img))})
	if err != nil {
		t.Fatal(err)
	}
	feed(t, w, img, 7)
	st, err := w.Finish()
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	got := readBack(t, target, 0, int(d.Size()))
	if i := firstDiff(got[:len(img)], img); i >= 0 {
		t.Fatalf("read-back differs at offset %d", i)
	}
	after := byte(garbage)
	if zero {
		after = 0
	}
	for i, c := range got[len(img):] {
		if c != after {
			t.Fatalf("byte %d after the image is %#x, want %#x", len(img)+i, c, after)
		}
	}
	if st.Image != int64(len(img)) {
		t.Errorf("Stats.Image = %d, want %d", st.Image, len(img))
	}
	return st
}

func TestWriterFile(t *testing.T) {
	t.Parallel()
	const devSize = 64 << 20
	img := testImage(40<<20-123, 1) // unaligned tail
	for _, tc := range []struct {
		zero      bool
		blockSize int
	}{{false, 0}, {true, 0}, {false, 1 << 20}, {true, 2 << 20}} {
		t.Run(fmt.Sprintf("zero=%v/bs=%d", tc.zero, tc.blockSize), func(t *testing.T) {
			target := newFile(t, devSize, garbage)
			st := writeAndCheck(t, target, img, tc.zero, tc.blockSize)
			aligned := int64(len(img)+511) / 512 * 512
			if !tc.zero {
				if st.Skipped != 0 || st.Written != aligned {
					t.Errorf("stats %+v: want everything written (%d bytes), nothing skipped", st, aligned)
				}
				return
			}
			if st.Skipped < 8<<20 || st.Written+st.Skipped != aligned {
				t.Errorf("stats %+v: want zero runs skipped and written+skipped = %d", st, aligned)
			}
			if a := allocated(t, target); a > st.Written+(1<<20) {
				t.Errorf("target has %d bytes allocated, only %d were written: zeros were not skipped", a, st.Written)
			}
		})
	}
}

// TestWriterWriteAt mimics the qcow2 reader: non-zero runs at increasing
// offsets, gaps left out.
func TestWriterWriteAt(t *testing.T) {
	t.Parallel()
	runs := []struct {
		off int64
		n   int
	}{{0, 100 << 10}, {100 << 10, 3}, {10<<20 + 512, 5000}, {30 << 20, 4 << 20}, {50<<20 + 4096, 77}}
	for _, zero := range []bool{false, true} {
		t.Run(fmt.Sprintf("zero=%v", zero), func(t *testing.T) {
			target := newFile(t, 64<<20, garbage)
			d, err := Open(target, Options{AllowFile: true})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if zero {
				if err := d.PrepareZero(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			w, err := d.Writer(context.Background(), WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := make([]byte, 0)
			for i, r := range runs {
				data := bytes.Repeat([]byte{byte(i + 1)}, r.n)
				if _, err := w.WriteAt(data, r.off); err != nil {
					t.Fatalf("WriteAt(%d): %v", r.off, err)
				}
				want = append(want, make([]byte, int(r.off)-len(want))...)
				want = append(want, data...)
			}
			if _, err := w.WriteAt([]byte{1}, 1<<20); !errors.Is(err, ErrOutOfOrder) {
				t.Errorf("WriteAt backwards = %v, want ErrOutOfOrder", err)
			}
			st, err := w.Finish()
			if err != nil {
				t.Fatal(err)
			}
			got := readBack(t, target, 0, len(want))
			if i := firstDiff(got, want); i >= 0 {
				t.Fatalf("read-back differs at offset %d: %#x, want %#x", i, got[i], want[i])
			}
			if zero && st.Written > 6<<20 {
				t.Errorf("wrote %d bytes for %d bytes of data: gaps were not skipped", st.Written, 4<<20+110<<10)
			}
			if !zero && st.Written < int64(len(want)) {
				t.Errorf("wrote %d bytes, want the gaps written too (%d)", st.Written, len(want))
			}
		})
	}
}

// TestWriterWriteBlock: aligned blocks at aligned positions are written in
// place and handed back once written; anything else is copied and handed
// back at once. Either way the bytes land in order.
func TestWriterWriteBlock(t *testing.T) {
	t.Parallel()
	target := newFile(t, 16<<20, garbage)
	d, err := Open(target, Options{AllowFile: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	w, err := d.Writer(context.Background(), WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		name    string
		inPlace bool
		caller  string
		doneBy  chan string
	}
	var results []result
	var want []byte
	in := func(n int, fill byte) []byte {
		b := directio.Buffer(n + 1)[:n]
		for i := range b {
			b[i] = fill + byte(i/4096)
		}
		want = append(want, b...)
		return b
	}
	for _, tc := range []struct {
		name    string
		p       []byte
		inPlace bool
	}{
		{"aligned", in(1<<20, 1), true},
		{"aligned again", in(2<<20, 9), true},
		{"short of a sector", in(4096+100, 20), false},
		{"unaligned position", in(1<<20, 30), false},
		{"unaligned buffer", in(1<<20+1, 40)[1:], false},
	} {
		if tc.name == "unaligned buffer" {
			want = append(want[:len(want)-(1<<20+1)], tc.p...)
		}
		caller := goroutine()
		doneBy := make(chan string, 1)
		if err := w.WriteBlock(tc.p, func() { doneBy <- goroutine() }); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		results = append(results, result{tc.name, tc.inPlace, caller, doneBy})
	}
	if _, err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	// done comes from the writer's goroutine after an in-place write, from
	// WriteBlock itself after a copy; by Finish, always.
	for _, r := range results {
		select {
		case by := <-r.doneBy:
			if inPlace := by != r.caller; inPlace != r.inPlace {
				t.Errorf("%s: written in place = %v, want %v", r.name, inPlace, r.inPlace)
			}
		default:
			t.Errorf("%s: done not called by Finish", r.name)
		}
	}
	if i := firstDiff(readBack(t, target, 0, len(want)), want); i >= 0 {
		t.Fatalf("read-back differs at offset %d", i)
	}
}

// goroutine returns the current goroutine's number.
func goroutine() string {
	b := make([]byte, 64)
	b = b[:runtime.Stack(b, false)]
	id, _, _ := bytes.Cut(bytes.TrimPrefix(b, []byte("goroutine ")), []byte(" "))
	return string(id)
}

func TestWriterRefusesOversizedImage(t *testing.T) {
	t.Parallel()
	target := newFile(t, 4<<20, garbage)
	d, err := Open(target, Options{AllowFile: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Writer(context.Background(), WriterOptions{ImageSize: 4<<20 + 512}); !errors.Is(err, ErrTooSmall) {
		t.Fatalf("Writer(ImageSize > device) = %v, want ErrTooSmall", err)
	}

	// Size unknown up front: the write that crosses the end fails before
	// any of it reaches the device.
	w, err := d.Writer(context.Background(), WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 3<<20)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 2<<20)); !errors.Is(err, ErrTooSmall) {
		t.Fatalf("Write past the end = %v, want ErrTooSmall", err)
	}
	if _, err := w.WriteAt([]byte{1}, 4<<20); !errors.Is(err, ErrTooSmall) {
		t.Fatalf("WriteAt past the end = %v, want ErrTooSmall", err)
	}
	if _, err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	got := readBack(t, target, 0, 4<<20)
	if i := bytes.IndexByte(got[:3<<20], garbage); i >= 0 {
		t.Fatalf("accepted data not written at %d", i)
	}
	if i := bytes.IndexByte(got[3<<20:], 0); i >= 0 {
		t.Fatalf("rejected write reached the device at %d", 3<<20+i)
	}
	if _, err := w.Write([]byte{1}); err == nil {
		t.Error("Write after Finish succeeded")
	}
}

func TestWriterOptions(t *testing.T) {
	t.Parallel()
	d, err := Open(newFile(t, 4<<20, 0), Options{AllowFile: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, bs := range []int{4096, 1<<20 + 4096} {
		if _, err := d.Writer(context.Background(), WriterOptions{BlockSize: bs}); err == nil {
			t.Errorf("BlockSize %d accepted", bs)
		}
	}
}

func TestWriterCancel(t *testing.T) {
	t.Parallel()
	target := newFile(t, 16<<20, garbage)
	d, err := Open(target, Options{AllowFile: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := d.Writer(ctx, WriterOptions{BlockSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := w.Write(make([]byte, 2<<20)); !errors.Is(err, context.Canceled) {
		t.Errorf("Write after cancel = %v, want context.Canceled", err)
	}
	if _, err := w.Finish(); !errors.Is(err, context.Canceled) {
		t.Errorf("Finish after cancel = %v, want context.Canceled", err)
	}
}

func TestIsZero(t *testing.T) {
	t.Parallel()
	buf := directio.Buffer(64<<10 + 24)
	if !isZero(buf) {
		t.Fatal("zero buffer reported non-zero")
	}
	for _, i := range []int{0, 7, 8, 63, 64, 4095, 64 << 10, 64<<10 + 23} {
		buf[i] = 1
		if isZero(buf) {
			t.Errorf("byte %d set but buffer reported zero", i)
		}
		buf[i] = 0
	}
}

func BenchmarkIsZero(b *testing.B) {
	buf := directio.Buffer(DefaultBlockSize)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		isZero(buf)
	}
}
