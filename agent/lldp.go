package agent

import (
	"context"
	"sync"
	"time"

	"github.com/goipa/goipa/hardware"
)

// lldpCache listens for LLDP once per interface for the agent's run: the
// VLANs to bring up, the inventory and the lldp collector all ask, and each
// listen costs up to lldp_timeout (30 s) on a network without LLDP.
type lldpCache struct {
	timeout time.Duration
	listen  func(ctx context.Context, ifaces []string, timeout time.Duration) map[string][]hardware.TLV

	mu    sync.Mutex
	heard map[string][]hardware.TLV // nil: listened, heard nothing
}

// get returns the TLVs heard on ifaces, listening on those not asked before.
// VLAN links are not listened on: LLDP frames are untagged.
func (c *lldpCache) get(ctx context.Context, ifaces []string) map[string][]hardware.TLV {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.heard == nil {
		c.heard = map[string][]hardware.TLV{}
	}
	var fresh []string
	for _, name := range ifaces {
		if _, ok := c.heard[name]; !ok && !hardware.IsVLANName(name) {
			fresh = append(fresh, name)
		}
	}
	if len(fresh) > 0 {
		got := c.listen(ctx, fresh, c.timeout)
		for _, name := range fresh {
			c.heard[name] = got[name]
		}
	}
	out := map[string][]hardware.TLV{}
	for _, name := range ifaces {
		if tlvs := c.heard[name]; tlvs != nil {
			out[name] = tlvs
		}
	}
	return out
}
