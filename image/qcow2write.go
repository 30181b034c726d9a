package image

import (
	"context"
	"errors"
	"fmt"

	"github.com/goipa/goipa/image/disk"
	"github.com/goipa/goipa/image/download"
	"github.com/goipa/goipa/image/qcow2"
)

// Memory for a qcow2 deploy: the download's segments (the stream window is
// held in segments too) and the converter's budget stay under the 64 MiB the
// agent allows itself together with the disk writer's blocks.
const (
	qcow2Block   = 2 << 20
	qcow2Segment = 2 << 20
	qcow2Window  = 16 << 20
	qcow2Memory  = 24 << 20
)

// writeQCOW2 converts a qcow2 image to the disk straight from the download:
// one sequential pass, hashed as it goes, with bounded memory.
func (d *Deployer) writeQCOW2(ctx context.Context, dk *disk.Disk, info *Info, v *download.Verifier, opts download.Options) (*Result, error) {
	opts = qcow2Download(opts)
	s, err := download.Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if s.Size() <= 0 {
		return nil, fmt.Errorf("%w: the server did not send the qcow2 image's size", ErrFormat)
	}
	s.Hash(v.Hash())
	src := newStreamSource(ctx, s, qcow2Window, opts)
	img, err := qcow2.Open(src, s.Size())
	if err != nil {
		if serr := src.failed(); serr != nil {
			return nil, serr // the download's failure, not the image's
		}
		if errors.Is(err, qcow2.ErrNotQcow2) {
			return nil, fmt.Errorf("%w: image is not qcow2 but disk_format says qcow2", ErrFormat)
		}
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if err := d.checkFormat(QCOW2, "", info); err != nil {
		return nil, err
	}
	w, err := dk.Writer(ctx, disk.WriterOptions{ImageSize: img.Size(), BlockSize: qcow2Block})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errWriteSide, err)
	}
	stop := d.progress(ctx, info.ID, s.Progress, w.Stats)
	qs, cerr := img.Convert(ctx, w, qcow2.Options{MaxMemory: qcow2Memory, Tables: 1})
	if cerr == nil {
		// Unless the disk was zeroed up front, zero what follows the last data.
		_, cerr = w.WriteAt(nil, img.Size())
	}
	stats, ferr := w.Finish()
	stop()
	if cerr != nil {
		return nil, classifyConvert(cerr)
	}
	if ferr != nil {
		return nil, fmt.Errorf("%w: %w", errWriteSide, ferr)
	}
	if err := src.finish(); err != nil {
		return nil, err
	}
	sum, err := s.Sum()
	if err != nil {
		return nil, err
	}
	if err := v.Verify(sum); err != nil {
		return nil, err
	}
	d.Log.Info("qcow2 converted", "virtual_size", img.Size(), "data", qs.DataBytes, "zero", qs.ZeroBytes,
		"source", s.Size(), "refetched", src.refetched, "peak_buffer", qs.PeakBuffer)
	return &Result{Stats: stats, Format: QCOW2}, nil
}

// qcow2Download is the download a qcow2 deploy makes with opts: its
// segments are smaller than a raw deploy's, to stay in the memory budget.
func qcow2Download(opts download.Options) download.Options {
	if opts.SegmentSize == 0 {
		opts.SegmentSize = qcow2Segment
	}
	return opts
}

// classifyConvert tells bad qcow2 metadata (an invalid image) from download
// and disk failures.
func classifyConvert(err error) error {
	for _, e := range []error{qcow2.ErrInvalid, qcow2.ErrUnsupported, qcow2.ErrBackingFile, qcow2.ErrExternalDataFile,
		qcow2.ErrEncrypted, qcow2.ErrMarkedCorrupt} {
		if errors.Is(err, e) {
			return fmt.Errorf("%w: %w", ErrFormat, err)
		}
	}
	return err
}
