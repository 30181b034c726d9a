package raid

import "context"

// NewManager builds a Manager for the machine as it is now (its disks, its
// boot mode).
type NewManager func(ctx context.Context) (*Manager, error)

// SoftwareRootVolume returns the md device holding the root file system
// when the node's target_raid_config describes software RAID, "" when it
// does not.
func SoftwareRootVolume(ctx context.Context, raw map[string]any, newManager NewManager) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	c, err := ParseConfig(raw)
	if err != nil {
		// Hardware RAID configurations are not ours to resolve.
		return "", nil
	}
	m, err := newManager(ctx)
	if err != nil {
		return "", err
	}
	return m.RootVolume(ctx, c)
}
