package disk

import (
	"github.com/goipa/goipa/internal/blockdev"
)

// ioctlRange issues BLKZEROOUT/BLKDISCARD, which take {start, length} in bytes.
func ioctlRange(fd int, req uint, start, length int64) error {
	r := [2]uint64{uint64(start), uint64(length)}
	return blockdev.IoctlPtr(fd, req, &r)
}
