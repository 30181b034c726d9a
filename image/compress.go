package image

import (
	"bufio"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// zstdMaxWindow bounds the decoder's memory; zstd -19 uses 8 MiB windows,
// --long=27 128 MiB, so 128 MiB covers what image tools produce.
const zstdMaxWindow = 128 << 20

// decompress returns the image inside a gzip, xz or zstd stream (or the
// stream itself for other formats) and the inner format.
func decompress(br *bufio.Reader, outer Format) (io.Reader, Format, error) {
	var r io.Reader
	switch outer {
	case GZIP:
		z, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("gzip: %w", err)
		}
		r = z
	case XZ:
		z, err := xz.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("xz: %w", err)
		}
		r = z
	case ZSTD:
		z, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(zstdMaxWindow),
			zstd.WithDecoderMaxMemory(zstdMaxWindow*2))
		if err != nil {
			return nil, "", fmt.Errorf("zstd: %w", err)
		}
		r = z.IOReadCloser()
	default:
		return br, outer, nil
	}
	inner := bufio.NewReaderSize(r, 1<<20)
	return inner, sniff(inner), nil
}
