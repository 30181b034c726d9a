package steps

import (
	"context"
	"errors"
	"time"

	"github.com/goipa/goipa/image"
	"github.com/goipa/goipa/ipa"
)

// RootDevice picks the device to write to from the node's root device hints.
type RootDevice func(ctx context.Context, node ipa.Node) (string, error)

// prepareParams are prepare_image's params and write_image's args.
type prepareParams struct {
	ImageInfo   *image.Info `json:"image_info"`
	ConfigDrive *string     `json:"configdrive"`
	Force       bool        `json:"force"`
}

func (p *prepareParams) Validate() error {
	if p.ImageInfo == nil {
		return errors.New("image_info is required")
	}
	return nil
}

// RegisterImage adds standby.prepare_image, standby.cache_image and
// standby.get_partition_uuids, and the generic manager's write_image
// deploy step, which Ironic's direct deploy runs in-band.
// image.install_bootloader is registered when b is not nil. A deploy's
// progress becomes the running command's command_result.
func RegisterImage(r *ipa.Runner, g *ipa.Generic, d *image.Deployer, b *image.Bootloader, node func() ipa.Node, root RootDevice) {
	d.Report = func(ctx context.Context, p image.Progress) {
		ipa.ReportProgress(ctx, map[string]any{"image": p.Image, "bytes_downloaded": p.Downloaded, "image_size": p.Size,
			"bytes_written": p.Written, "bytes_skipped": p.Skipped, "rate_bps": int64(p.Rate),
			"eta_seconds": int64(p.ETA / time.Second)})
	}
	// image_info is validated once, by Deployer.Write.
	write := func(ctx context.Context, n ipa.Node, p prepareParams) (string, error) {
		dev, err := root(ctx, n)
		if err != nil {
			return "", err
		}
		cd := ""
		if p.ConfigDrive != nil {
			cd = *p.ConfigDrive
		}
		res, err := d.Write(ctx, p.ImageInfo, dev, cd)
		if err != nil {
			return "", err
		}
		return res.Message(p.ImageInfo.ID), nil
	}
	r.Register("standby", "prepare_image", ipa.Async(func(ctx context.Context, p prepareParams) (any, error) {
		return write(ctx, node(), p)
	}))
	r.Register("standby", "cache_image", ipa.Async(func(ctx context.Context, p prepareParams) (any, error) {
		p.ConfigDrive = nil
		return write(ctx, node(), p)
	}))
	r.Register("standby", "get_partition_uuids", ipa.Sync(func(context.Context, struct{}) (any, error) {
		return d.PartitionUUIDs(), nil
	}))
	writeImage := func(ctx context.Context, req ipa.Request) (any, error) {
		var p prepareParams
		if err := req.DecodeArgs(&p); err != nil {
			return nil, ipa.InvalidParams("write_image args: %v", err)
		}
		if err := p.Validate(); err != nil {
			return nil, ipa.InvalidParams("write_image args: %v", err)
		}
		msg, err := write(ctx, req.Node, p)
		if err != nil {
			return nil, err
		}
		// IPA's write_image runs standby.prepare_image and returns its result.
		return map[string]string{"result": "prepare_image: " + msg}, nil
	}
	g.Add(ipa.Deploy, ipa.Step{Interface: "deploy", Step: "write_image", Priority: 0}, writeImage)
	g.Add(ipa.Service, ipa.Step{Interface: "deploy", Step: "write_image", Priority: 0}, writeImage)
	if b == nil {
		return
	}
	r.Register("image", "install_bootloader", ipa.Async(func(ctx context.Context, p image.BootloaderParams) (any, error) {
		dev, err := root(ctx, node())
		if err != nil {
			return nil, err
		}
		msg, err := b.Install(ctx, dev, p)
		ignore := b.IgnoreFailure
		if p.IgnoreBootloaderFailure != nil {
			ignore = *p.IgnoreBootloaderFailure
		}
		if err != nil && ignore {
			d.Log.Warn("ignoring the bootloader failure as asked", "error", err)
			return "bootloader installation failed and was ignored: " + err.Error(), nil
		}
		return msg, err
	}))
	nvramArgs := map[string]ipa.Arg{"match_patterns": {Description: "A list of regular expressions to match " +
		"against UEFI boot entries; matching entries are deleted. Defaults to removing disk, shim and grub entries.", Required: false}}
	cleanNVRAM := func(ctx context.Context, req ipa.Request) (any, error) {
		var a struct {
			MatchPatterns []string `json:"match_patterns"`
		}
		if err := req.DecodeArgs(&a); err != nil {
			return nil, ipa.InvalidParams("clean_uefi_nvram: %v", err)
		}
		removed, err := b.CleanNVRAM(ctx, a.MatchPatterns)
		if err != nil {
			return nil, err
		}
		return map[string]any{"removed": removed}, nil
	}
	// A clean step, and (as in IPA 13) a deploy step for deploy templates.
	g.Add(ipa.Clean, ipa.Step{Interface: "deploy", Step: "clean_uefi_nvram", Abortable: &abortable, Argsinfo: nvramArgs}, cleanNVRAM)
	g.Add(ipa.Deploy, ipa.Step{Interface: "deploy", Step: "clean_uefi_nvram", Argsinfo: nvramArgs}, cleanNVRAM)
}
