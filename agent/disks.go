package agent

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/goipa/goipa/hardware"
)

// WaitForDisks is IPA's wait_for_disks after ready (the storage drivers
// loaded): up to attempts looks at the block devices, delay apart, until one
// shows (a SAN LUN or a slow controller takes its time); then it goes on
// without, with a warning, as IPA does. Only the first call waits
// (disk_wait_attempts, disk_wait_delay).
func WaitForDisks(ready func(context.Context) error, list func() ([]hardware.BlockDevice, error), attempts int, delay time.Duration, log *slog.Logger) func(context.Context) error {
	var once sync.Once
	return func(ctx context.Context) error {
		if ready != nil {
			if err := ready(ctx); err != nil {
				return err
			}
		}
		once.Do(func() {
			for i := range attempts {
				if devs, err := list(); err == nil && len(devs) > 0 {
					return
				}
				if i == attempts-1 {
					break
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(delay):
				}
			}
			if attempts > 0 {
				log.Warn("no disk appeared", "attempts", attempts, "delay", delay)
			}
		})
		return nil
	}
}
