package image

import (
	"context"

	"github.com/goipa/goipa/image/disk"
)

// edge is how much of each end of the disk wipeEdges zeroes: the MBR, both
// GPT headers and their partition arrays.
const edge = 1 << 20

// wipeEdges zeroes the start and end of the disk so an image that failed
// verification leaves no partition table behind to boot from.
func wipeEdges(ctx context.Context, dk *disk.Disk) error {
	w, err := dk.Writer(ctx, disk.WriterOptions{BlockSize: edge})
	if err != nil {
		return err
	}
	zero := make([]byte, edge)
	if _, err := w.WriteAt(zero, 0); err != nil {
		w.Finish()
		return err
	}
	if end := dk.Size() - edge; end > edge {
		if _, err := w.WriteAt(zero, end); err != nil {
			w.Finish()
			return err
		}
	}
	_, err = w.Finish()
	return err
}
