package ramdisk

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"
)

// zstdDecoder is shared by all loads: one goroutine-free decoder, where a
// decoder per module would keep its buffers and goroutines alive.
var zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
})

// insmod loads one module file into the kernel. A plain .ko goes by file
// descriptor (finit_module), without a copy in this process; .ko.zst,
// .ko.xz and .ko.gz are unpacked in memory first, since Debian's kernel
// lacks CONFIG_MODULE_DECOMPRESS. The signature is the uncompressed file's.
func insmod(path, params string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var img []byte
	switch {
	case strings.HasSuffix(path, ".ko"):
		return unix.FinitModule(int(f.Fd()), params, 0)
	case strings.HasSuffix(path, ".ko.zst"):
		d, err := zstdDecoder()
		if err != nil {
			return err
		}
		raw, err := io.ReadAll(f)
		if err != nil {
			return err
		}
		img, err = d.DecodeAll(raw, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	case strings.HasSuffix(path, ".ko.xz"):
		r, err := xz.NewReader(bufio.NewReader(f))
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if img, err = io.ReadAll(r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	case strings.HasSuffix(path, ".ko.gz"):
		r, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if img, err = io.ReadAll(r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	default:
		return fmt.Errorf("%s: %w", path, ErrNoModules)
	}
	return unix.InitModule(img, params)
}

// loadedModules lists the modules in the kernel (/proc/modules).
func loadedModules() []string {
	b, err := os.ReadFile("/proc/modules")
	if err != nil {
		return nil
	}
	var out []string
	for line := range bytes.Lines(b) {
		if f := bytes.Fields(line); len(f) > 0 {
			out = append(out, string(f[0]))
		}
	}
	return out
}
