package ramdisk

import (
	"context"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// watchVLANs runs DHCP on every VLAN link that appears until ctx ends: the
// agent adds them (enable_vlan_interfaces) as IPA does, and the ramdisk
// gives them addresses, as the network manager of IPA's ramdisks does.
func (d *dhcpRun) watchVLANs(ctx context.Context) error {
	updates := make(chan netlink.LinkUpdate, 16)
	err := netlink.LinkSubscribeWithOptions(updates, ctx.Done(), netlink.LinkSubscribeOptions{
		ListExisting: true,
		ErrorCallback: func(err error) {
			d.log.Warn("ramdisk: link updates", "error", err)
		},
	})
	if err != nil {
		return err
	}
	go func() {
		started := map[int]bool{}
		for u := range updates {
			idx := u.Link.Attrs().Index
			if u.Header.Type != unix.RTM_NEWLINK || u.Link.Type() != "vlan" || started[idx] {
				continue
			}
			started[idx] = true
			d.log.Info("ramdisk: DHCP on VLAN link", "nic", u.Link.Attrs().Name)
			go d.loop(ctx, u.Link, false)
		}
	}()
	return nil
}
