package agent

import (
	"context"
	"strings"

	"github.com/goipa/goipa/hardware"
)

// bringUpVLANs adds the VLAN links enable_vlan_interfaces asks for, as IPA
// does before its first inventory (inspection and lookup alike): the
// ramdisk then runs DHCP on them, the inventory lists them and lookup sends
// their MACs.
func (a *Agent) bringUpVLANs(ctx context.Context) {
	cfg, log := a.Config, a.Log
	if len(cfg.EnableVLANInterfaces) == 0 {
		return
	}
	if a.SysfsRoot != "/sys" {
		// Links are made on the live system only, never for a sysfs copy.
		log.Warn("VLAN interfaces need the live /sys", "sysfs", a.SysfsRoot)
		return
	}
	ifaces, err := hardware.Interfaces(hardware.Root{Sys: a.SysfsRoot, Log: log}, nil)
	if err != nil {
		log.Error("no VLAN interfaces", "error", err)
		return
	}
	if cfg.CollectLLDP && fromLLDP(cfg.EnableVLANInterfaces) {
		names := make([]string, len(ifaces))
		for i := range ifaces {
			names[i] = ifaces[i].Name
		}
		heard := a.lldp.get(ctx, names)
		for i := range ifaces {
			ifaces[i].LLDP = heard[ifaces[i].Name]
		}
	}
	wanted := hardware.WantedVLANs(log, cfg.EnableVLANInterfaces, ifaces, cfg.CollectLLDP)
	if len(wanted) == 0 {
		log.Info("no VLAN interfaces to add", "enable_vlan_interfaces", cfg.EnableVLANInterfaces)
		return
	}
	// 8021q loads with the ramdisk's other modules, while LLDP was heard.
	if a.ModulesReady != nil {
		if err := a.ModulesReady(ctx); err != nil {
			log.Warn("VLANs without all modules", "error", err)
		}
	}
	for _, v := range wanted {
		if err := hardware.AddVLAN(v); err != nil {
			log.Warn("VLAN interface not added", "error", err)
			continue
		}
		log.Info("VLAN interface added", "nic", v.Name())
	}
}

// fromLLDP says whether an entry asks for the VLANs a switch announces.
func fromLLDP(spec []string) bool {
	for _, s := range spec {
		if s = strings.TrimSpace(s); s != "" && !strings.Contains(s, ".") {
			return true
		}
	}
	return false
}
