package inject

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/goipa/goipa/internal/blockdev"
)

// ErrNoPartition: the partition named, or one holding the path, is not there
// (IPA's DeviceNotFound).
var ErrNoPartition = errors.New("partition not found")

type part struct {
	number int
	dev    string
}

// partitions lists the partitions the kernel knows of disk, by number.
func partitions(sysfs, devRoot, disk string) ([]part, error) {
	real, err := filepath.EvalSymlinks(disk)
	if err != nil {
		return nil, err
	}
	d, err := blockdev.ByName(sysfs, filepath.Base(real))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", disk, err)
	}
	var out []part
	for _, n := range d.Nodes[1:] {
		b, err := os.ReadFile(filepath.Join(n.Dir, "partition"))
		if err != nil {
			return nil, err
		}
		num, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("%s: partition number %q", n.Dir, b)
		}
		out = append(out, part{number: num, dev: filepath.Join(devRoot, n.Name)})
	}
	slices.SortFunc(out, func(a, b part) int { return a.number - b.number })
	return out, nil
}

// partitionDevice resolves a file's partition: a number is that partition
// of the root device, anything else a device path.
func partitionDevice(sysfs, devRoot, root, partition string) (string, error) {
	n, err := strconv.Atoi(partition)
	if err != nil {
		return partition, nil
	}
	parts, err := partitions(sysfs, devRoot, root)
	if err != nil {
		return "", err
	}
	for _, p := range parts {
		if p.number == n {
			return p.dev, nil
		}
	}
	return "", fmt.Errorf("%w: %s has no partition %d", ErrNoPartition, root, n)
}
