package steps

import (
	"context"
	"errors"
	"fmt"

	"github.com/goipa/goipa/ipa"
	"github.com/goipa/goipa/raid"
)

// RegisterRAID adds IPA's software RAID steps to the generic manager:
// raid.create_configuration and raid.delete_configuration for cleaning,
// raid.apply_configuration for deploying, and all three for servicing.
func RegisterRAID(g *ipa.Generic, newManager raid.NewManager) {
	deleteConfig := func(ctx context.Context, _ ipa.Request) (any, error) {
		m, err := newManager(ctx)
		if err != nil {
			return nil, err
		}
		if err := m.Delete(ctx); err != nil {
			return nil, raidErr(err)
		}
		return nil, nil
	}
	createConfig := func(ctx context.Context, req ipa.Request) (any, error) {
		raw := req.Node.TargetRAIDConfig
		return create(ctx, newManager, raw, false)
	}
	apply := func(ctx context.Context, req ipa.Request) (any, error) {
		args := struct {
			RaidConfig     map[string]any `json:"raid_config"`
			DeleteExisting *bool          `json:"delete_existing"`
		}{}
		if err := req.DecodeArgs(&args); err != nil {
			return nil, ipa.InvalidParams("apply_configuration: %v", err)
		}
		del := args.DeleteExisting == nil || *args.DeleteExisting
		return create(ctx, newManager, args.RaidConfig, del)
	}
	applyArgs := map[string]ipa.Arg{
		"raid_config":     {Description: "The RAID configuration to apply.", Required: true},
		"delete_existing": {Description: "Setting this to 'True' indicates to delete existing RAID configuration prior to creating the new configuration. Default value is 'True'.", Required: false},
	}
	g.Add(ipa.Clean, ipa.Step{Interface: "raid", Step: "delete_configuration", Abortable: &abortable}, deleteConfig)
	g.Add(ipa.Clean, ipa.Step{Interface: "raid", Step: "create_configuration", Abortable: &abortable}, createConfig)
	g.Add(ipa.Deploy, ipa.Step{Interface: "raid", Step: "apply_configuration", Argsinfo: applyArgs}, apply)
	g.Add(ipa.Service, ipa.Step{Interface: "raid", Step: "apply_configuration", Argsinfo: applyArgs}, apply)
	g.Add(ipa.Service, ipa.Step{Interface: "raid", Step: "delete_configuration", Abortable: &abortable}, deleteConfig)
	g.Add(ipa.Service, ipa.Step{Interface: "raid", Step: "create_configuration", Abortable: &abortable}, createConfig)
}

func create(ctx context.Context, newManager raid.NewManager, raw map[string]any, deleteExisting bool) (any, error) {
	if len(raw) == 0 {
		return nil, ipa.Typed("SoftwareRAIDError", "Software RAID caused unknown error", errors.New("the node has no target_raid_config"))
	}
	c, err := raid.ParseConfig(raw)
	if err != nil {
		return nil, raidErr(err)
	}
	m, err := newManager(ctx)
	if err != nil {
		return nil, err
	}
	res, err := m.Create(ctx, c, raid.CreateOptions{DeleteExisting: deleteExisting})
	if err != nil {
		return nil, raidErr(err)
	}
	// Ironic's raid.update_raid_info stores this as the node's raid_config.
	return res.RaidConfig(), nil
}

func raidErr(err error) error {
	return ipa.Typed("SoftwareRAIDError", "Software RAID caused unknown error", fmt.Errorf("%w", err))
}
