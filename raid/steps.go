package raid

import (
	"context"
	"errors"
	"fmt"

	"github.com/goipa/goipa/agent/command"
	"github.com/goipa/goipa/hardware"
)

// NewManager builds a Manager for the machine as it is now (its disks, its
// boot mode).
type NewManager func(ctx context.Context) (*Manager, error)

var abortable = true

// Register adds IPA's software RAID steps to the generic manager:
// raid.create_configuration and raid.delete_configuration for cleaning,
// raid.apply_configuration for deploying, and all three for servicing.
func Register(g *hardware.Generic, newManager NewManager) {
	deleteConfig := func(ctx context.Context, _ hardware.Request) (any, error) {
		m, err := newManager(ctx)
		if err != nil {
			return nil, err
		}
		if err := m.Delete(ctx); err != nil {
			return nil, raidErr(err)
		}
		return nil, nil
	}
	createConfig := func(ctx context.Context, req hardware.Request) (any, error) {
		raw, _ := req.Node["target_raid_config"].(map[string]any)
		return create(ctx, newManager, raw, false)
	}
	apply := func(ctx context.Context, req hardware.Request) (any, error) {
		args := struct {
			RaidConfig     map[string]any `json:"raid_config"`
			DeleteExisting *bool          `json:"delete_existing"`
		}{}
		if err := req.DecodeArgs(&args); err != nil {
			return nil, command.InvalidParams("apply_configuration: %v", err)
		}
		del := args.DeleteExisting == nil || *args.DeleteExisting
		return create(ctx, newManager, args.RaidConfig, del)
	}
	applyArgs := map[string]hardware.Arg{
		"raid_config":     {Description: "The RAID configuration to apply.", Required: true},
		"delete_existing": {Description: "Setting this to 'True' indicates to delete existing RAID configuration prior to creating the new configuration. Default value is 'True'.", Required: false},
	}
	g.Add(hardware.Clean, hardware.Step{Interface: "raid", Step: "delete_configuration", Abortable: &abortable}, deleteConfig)
	g.Add(hardware.Clean, hardware.Step{Interface: "raid", Step: "create_configuration", Abortable: &abortable}, createConfig)
	g.Add(hardware.Deploy, hardware.Step{Interface: "raid", Step: "apply_configuration", Argsinfo: applyArgs}, apply)
	g.Add(hardware.Service, hardware.Step{Interface: "raid", Step: "apply_configuration", Argsinfo: applyArgs}, apply)
	g.Add(hardware.Service, hardware.Step{Interface: "raid", Step: "delete_configuration", Abortable: &abortable}, deleteConfig)
	g.Add(hardware.Service, hardware.Step{Interface: "raid", Step: "create_configuration", Abortable: &abortable}, createConfig)
}

func create(ctx context.Context, newManager NewManager, raw map[string]any, deleteExisting bool) (any, error) {
	if len(raw) == 0 {
		return nil, command.Typed("SoftwareRAIDError", "Software RAID caused unknown error", errors.New("the node has no target_raid_config"))
	}
	c, err := ParseConfig(raw)
	if err != nil {
		return nil, raidErr(err)
	}
	m, err := newManager(ctx)
	if err != nil {
		return nil, err
	}
	res, err := m.Create(ctx, c, CreateOptions{DeleteExisting: deleteExisting})
	if err != nil {
		return nil, raidErr(err)
	}
	// Ironic's raid.update_raid_info stores this as the node's raid_config.
	return res.RaidConfig(), nil
}

func raidErr(err error) error {
	return command.Typed("SoftwareRAIDError", "Software RAID caused unknown error", fmt.Errorf("%w", err))
}

// SoftwareRootVolume returns the md device holding the root file system
// when the node's target_raid_config describes software RAID, "" when it
// does not.
func SoftwareRootVolume(ctx context.Context, node map[string]any, newManager NewManager) (string, error) {
	raw, _ := node["target_raid_config"].(map[string]any)
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
