package inspect

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/goipa/goipa/hardware"
)

// DHCPWait is IPA's wait_for_dhcp: before the inventory, wait until the
// interfaces have an IPv4 address, so the inventory reports them.
type DHCPWait struct {
	Timeout time.Duration // inspection_dhcp_wait_timeout; 0 does not wait
	All     bool          // inspection_dhcp_all_interfaces: every interface, not only BOOTIF's
	BootMAC string        // BOOTIF, "aa:bb:cc:dd:ee:ff"; "" unknown
	// Interval is between looks; 0 is IPA's 2 s.
	Interval time.Duration
}

// wait returns the interfaces still without an IPv4 address when it gives
// up (nil when all have one or there is nothing to wait for).
func (w DHCPWait) wait(ctx context.Context, log *slog.Logger, list func() ([]hardware.Interface, error)) []string {
	if w.Timeout <= 0 {
		return nil
	}
	if w.BootMAC == "" && !w.All {
		log.Warn("inspection: no PXE boot interface known, not waiting for its address")
		return nil
	}
	interval := w.Interval
	if interval == 0 {
		interval = 2 * time.Second
	}
	deadline := time.Now().Add(w.Timeout)
	for {
		missing, err := w.missing(list)
		if err == nil && len(missing) == 0 {
			return nil
		}
		if err != nil {
			log.Warn("inspection: cannot list the interfaces", "error", err)
		}
		if time.Now().After(deadline) {
			log.Warn("inspection: not every interface has an IPv4 address", "timeout", w.Timeout, "missing", missing)
			return missing
		}
		log.Debug("inspection: waiting for IPv4 addresses", "missing", missing)
		select {
		case <-ctx.Done():
			return missing
		case <-time.After(interval):
		}
	}
}

func (w DHCPWait) missing(list func() ([]hardware.Interface, error)) ([]string, error) {
	ifs, err := list()
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, i := range ifs {
		if (w.All || strings.EqualFold(i.MACAddress, w.BootMAC)) && i.IPv4Address == nil {
			missing = append(missing, i.Name)
		}
	}
	return missing, nil
}
