package fakeironic

import (
	"context"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/goipa/goipa/agent/client"
)

// ImageInfo is the image_info argument of the write_image deploy step, as
// ironic's AgentDeploy.write_image builds it for a whole-disk image.
type ImageInfo struct {
	ID              string   `json:"id"`
	URLs            []string `json:"urls"`
	DiskFormat      string   `json:"disk_format"`
	ContainerFormat *string  `json:"container_format"`
	OSHashAlgo      string   `json:"os_hash_algo,omitempty"`
	OSHashValue     string   `json:"os_hash_value,omitempty"`
	Checksum        string   `json:"checksum,omitempty"`
	StreamRawImages bool     `json:"stream_raw_images"`
	NodeUUID        string   `json:"node_uuid"`
}

// DeployOptions vary the direct deploy.
type DeployOptions struct {
	// ConfigDrive is args.configdrive (a URL or base64 gzipped ISO); "" is null.
	ConfigDrive string
	// PowerOff ends with standby.power_off (in-band power off); otherwise
	// standby.sync, as with deploy_forces_oob_reboot.
	PowerOff bool
	// TargetBootMode "uefi" adds image.install_bootloader, as Ironic does for
	// whole-disk images on UEFI nodes.
	TargetBootMode string
	// PollInterval overrides the Conductor's fallback poll.
	PollInterval time.Duration
}

// DeployReport tells what happened and when.
type DeployReport struct {
	Node           string
	Start          time.Time // Deploy was called
	FirstHeartbeat time.Time // the agent of this deploy heartbeated
	WriteStart     time.Time // write_image was started
	WriteEnd       time.Time // write_image was seen finished
	End            time.Time
	Steps          *Steps
	Write          *client.Result // the finished execute_deploy_step
	PartitionUUIDs *PartitionUUIDs
	// Logs is the agent's system log tarball, collected after a failure.
	Logs []byte
}

// Deploy plays Ironic's direct deploy of a whole-disk image on a node:
// wait call-back → first heartbeat → deploy.get_deploy_steps →
// deploy.execute_deploy_step(write_image) → standby.get_partition_uuids →
// [image.install_bootloader] → standby.power_off or standby.sync → active.
// A node not already in "wait call-back" is moved there with its agent info
// wiped, so a new agent must look up. On failure the node goes to
// "deploy failed" with LastError set, and the agent's logs are collected.
func (s *Server) Deploy(ctx context.Context, ident string, img ImageInfo, opts DeployOptions) (*DeployReport, error) {
	n, ok := s.Node(ident)
	if !ok {
		return nil, fmt.Errorf("%s: %w", ident, ErrNodeNotFound)
	}
	rep := &DeployReport{Node: n.UUID, Start: time.Now()}
	if img.NodeUUID == "" {
		img.NodeUUID = n.UUID
	}
	if img.ID == "" && len(img.URLs) > 0 {
		img.ID = path.Base(img.URLs[0])
	}
	err := s.UpdateNode(n.UUID, func(n *Node) {
		if n.ProvisionState != StateDeployWait {
			wipeAgent(n)
			n.ProvisionState = StateDeployWait
		}
		n.LastError = ""
		n.InstanceInfo["image_source"] = firstURL(img.URLs)
		n.InstanceInfo["image_url"] = firstURL(img.URLs)
		n.InstanceInfo["image_disk_format"] = img.DiskFormat
		n.InstanceInfo["image_type"] = "whole-disk"
		if img.OSHashAlgo != "" {
			n.InstanceInfo["image_os_hash_algo"] = img.OSHashAlgo
			n.InstanceInfo["image_os_hash_value"] = img.OSHashValue
		}
		if opts.ConfigDrive != "" {
			n.InstanceInfo["configdrive"] = opts.ConfigDrive
		}
		n.DriverInternalInfo["is_whole_disk_image"] = true
	})
	if err != nil {
		return nil, err
	}
	hb, err := s.WaitAgent(ctx, n.UUID)
	if err != nil {
		return rep, s.deployFailed(n.UUID, err)
	}
	rep.FirstHeartbeat = hb.Time
	c, err := s.Conductor(n.UUID)
	if err != nil {
		return rep, s.deployFailed(n.UUID, err)
	}
	defer c.Close()
	if opts.PollInterval > 0 {
		c.PollInterval = opts.PollInterval
	}
	if err := s.deploySteps(ctx, c, rep, img, opts); err != nil {
		if logs, lerr := c.CollectLogs(ctx); lerr == nil {
			rep.Logs = logs
		}
		rep.End = time.Now()
		return rep, s.deployFailed(n.UUID, err)
	}
	rep.End = time.Now()
	// Powering off wipes the token: the next operation needs a new agent.
	s.UpdateNode(n.UUID, func(n *Node) {
		wipeAgent(n)
		n.ProvisionState = StateActive
	})
	return rep, nil
}

// ErrNoWriteImage means the agent does not offer the write_image step.
var ErrNoWriteImage = errors.New("agent offers no deploy.write_image step")

func (s *Server) deploySteps(ctx context.Context, c *Conductor, rep *DeployReport, img ImageInfo, opts DeployOptions) error {
	s.SetProvisionState(rep.Node, StateDeploying)
	steps, err := c.GetSteps(ctx, "deploy")
	if err != nil {
		return err
	}
	rep.Steps = steps
	if _, ok := steps.Find("deploy", "write_image"); !ok {
		return ErrNoWriteImage
	}
	var configdrive any
	if opts.ConfigDrive != "" {
		configdrive = opts.ConfigDrive
	}
	step := Step{Interface: "deploy", Step: "write_image", Priority: 80,
		Args: map[string]any{"image_info": img, "configdrive": configdrive}}
	rep.WriteStart = time.Now()
	if _, err := c.ExecuteStep(ctx, "deploy", step, steps.HardwareManagerVersion); err != nil {
		return err
	}
	s.SetProvisionState(rep.Node, StateDeployWait)
	if rep.Write, err = c.WaitStep(ctx, "deploy", step); err != nil {
		return err
	}
	rep.WriteEnd = time.Now()
	s.SetProvisionState(rep.Node, StateDeploying)
	if rep.PartitionUUIDs, err = c.GetPartitionUUIDs(ctx); err != nil {
		return err
	}
	if opts.TargetBootMode == "uefi" {
		p := BootloaderParams{RootUUID: rep.PartitionUUIDs.RootUUID, TargetBootMode: "uefi"}
		if u := rep.PartitionUUIDs.EFISystemPartitionUUID; u != "" {
			p.EFISystemPartitionUUID = &u
		}
		if _, err := c.InstallBootloader(ctx, p); err != nil {
			return err
		}
	}
	if opts.PowerOff {
		_, err = c.PowerOff(ctx)
		return err
	}
	return c.Sync(ctx)
}

func (s *Server) deployFailed(uuid string, err error) error {
	s.UpdateNode(uuid, func(n *Node) {
		n.ProvisionState = StateDeployFailed
		n.LastError = err.Error()
	})
	return fmt.Errorf("deploy of node %s: %w", uuid, err)
}

func firstURL(urls []string) string {
	if len(urls) == 0 {
		return ""
	}
	return urls[0]
}
