// Package standby registers the "standby" extension: the commands the
// conductor uses around an image deploy (contract §3, §4).
package standby

import (
	"context"
	"time"

	"github.com/goipa/goipa/agent/machine"
	"github.com/goipa/goipa/ipa"
)

// settle lets the RUNNING answer reach the conductor before the machine goes.
const settle = 500 * time.Millisecond

// Register adds standby.sync, standby.power_off and standby.run_image.
func Register(r *ipa.Runner, m machine.Machine) {
	r.Register("standby", "sync", ipa.Sync(func(ctx context.Context, _ struct{}) (any, error) {
		return nil, m.Sync(ctx)
	}))
	r.Register("standby", "power_off", ipa.Async(func(ctx context.Context, _ struct{}) (any, error) {
		time.Sleep(settle)
		return nil, m.PowerOff(ctx)
	}))
	r.Register("standby", "run_image", ipa.Async(func(ctx context.Context, _ struct{}) (any, error) {
		time.Sleep(settle)
		return nil, m.Reboot(ctx)
	}))
}
