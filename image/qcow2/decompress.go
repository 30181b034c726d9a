package qcow2

import (
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
)

// maxZstdWindow bounds the history a hostile zstd frame can make the decoder
// keep; qemu compresses one cluster (at most 2 MiB) per frame.
const maxZstdWindow = 8 << 20

// decompressor inflates compressed clusters. Each worker owns one, so the
// decoders are reused without locking.
type decompressor struct {
	kind Compression
	src  bytes.Reader
	zlib io.ReadCloser // also a flate.Resetter
	zstd *zstd.Decoder
}

// cluster fills dst (one whole cluster) from the compressed bytes in src.
// qemu stores zlib clusters as raw deflate and zstd clusters as one frame;
// the input may carry trailing bytes of the next cluster, so decoding stops
// once dst is full, as qemu's does.
func (d *decompressor) cluster(dst, src []byte) error {
	d.src.Reset(src)
	var r io.Reader
	switch d.kind {
	case CompressionZlib:
		if d.zlib == nil {
			d.zlib = flate.NewReader(&d.src)
		} else if err := d.zlib.(flate.Resetter).Reset(&d.src, nil); err != nil {
			return err
		}
		r = d.zlib
	case CompressionZstd:
		if d.zstd == nil {
			dec, err := zstd.NewReader(&d.src, zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(maxZstdWindow))
			if err != nil {
				return err
			}
			d.zstd = dec
		} else if err := d.zstd.Reset(&d.src); err != nil {
			return err
		}
		r = d.zstd
	}
	if _, err := io.ReadFull(r, dst); err != nil {
		return fmt.Errorf("%w: compressed cluster: %v", ErrInvalid, err)
	}
	return nil
}

func (d *decompressor) close() {
	if d.zstd != nil {
		d.zstd.Close()
	}
}
