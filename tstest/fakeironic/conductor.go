package fakeironic

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/goipa/goipa/agent/client"
)

// Errors of the conductor side.
var (
	ErrNoAgent         = errors.New("no agent has heartbeated for this node")
	ErrUnknownKind     = errors.New("step kind must be deploy, clean or service")
	ErrStepFailed      = errors.New("step failed")
	ErrVersionMismatch = errors.New("agent reports hardware manager version mismatch")
	ErrNotRunning      = errors.New("async command did not answer RUNNING")
	ErrCommandFailed   = errors.New("command failed")
)

// DefaultPollInterval is how often a Conductor looks at the agent's commands
// when no heartbeat comes ([agent]command_wait_interval is 6 s).
const DefaultPollInterval = 5 * time.Second

// Conductor drives one node's agent as Ironic's conductor does, through the
// agent's REST API at the callback_url it heartbeated, with its token, and
// trusting the certificate it sent as agent_verify_ca.
type Conductor struct {
	// Agent is the client of the node's agent.
	Agent *client.Client
	// PollInterval is the fallback between command list checks while a step
	// runs; heartbeats trigger checks too.
	PollInterval time.Duration

	srv       *Server
	uuid      string
	beats     chan struct{}
	stopBeats func()
}

// Conductor returns a Conductor for a node whose agent has heartbeated.
// Close it when done.
func (s *Server) Conductor(ident string) (*Conductor, error) {
	n, ok := s.Node(ident)
	if !ok {
		return nil, fmt.Errorf("%s: %w", ident, ErrNodeNotFound)
	}
	agentURL, _ := n.DriverInternalInfo[KeyAgentURL].(string)
	token, _ := n.DriverInternalInfo[KeyAgentToken].(string)
	if agentURL == "" || token == "" {
		return nil, fmt.Errorf("node %s: %w", n.UUID, ErrNoAgent)
	}
	opts := []client.Option{client.WithToken(token)}
	if ca, _ := n.DriverInternalInfo[KeyAgentVerifyCA].(string); ca != "" {
		opts = append(opts, client.WithCA([]byte(ca)))
	}
	agent, err := client.New(agentURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.UUID, err)
	}
	c := &Conductor{Agent: agent, PollInterval: DefaultPollInterval, srv: s, uuid: n.UUID, beats: make(chan struct{}, 1)}
	c.stopBeats = s.OnHeartbeat(func(h Heartbeat) {
		if h.NodeUUID == c.uuid && h.Accepted() {
			select {
			case c.beats <- struct{}{}:
			default:
			}
		}
	})
	return c, nil
}

// Close stops listening to heartbeats.
func (c *Conductor) Close() { c.stopBeats() }

// Step is a deploy, clean or service step.
type Step struct {
	Interface       string         `json:"interface"`
	Step            string         `json:"step"`
	Priority        int            `json:"priority"`
	Args            map[string]any `json:"args,omitempty"`
	Abortable       bool           `json:"abortable,omitempty"`
	RebootRequested bool           `json:"reboot_requested,omitempty"`
	ArgsInfo        map[string]any `json:"argsinfo,omitempty"`
}

// Steps is the answer of get_<kind>_steps.
type Steps struct {
	// Steps lists the steps by hardware manager class name.
	Steps map[string][]Step
	// HardwareManagerVersion goes back as <kind>_version on execute.
	HardwareManagerVersion map[string]string
}

// Find returns the step with this interface and name.
func (s *Steps) Find(iface, name string) (Step, bool) {
	for _, steps := range s.Steps {
		for _, st := range steps {
			if st.Interface == iface && st.Step == name {
				return st, true
			}
		}
	}
	return Step{}, false
}

func checkKind(kind string) error {
	switch kind {
	case "deploy", "clean", "service":
		return nil
	}
	return fmt.Errorf("%q: %w", kind, ErrUnknownKind)
}

// stepParams are the node and ports every step command carries.
func (c *Conductor) stepParams() (map[string]any, error) {
	c.srv.mu.Lock()
	defer c.srv.mu.Unlock()
	n := c.srv.find(c.uuid)
	if n == nil {
		return nil, fmt.Errorf("%s: %w", c.uuid, ErrNodeNotFound)
	}
	dii := deepCopy(n.DriverInternalInfo)
	if _, ok := dii[KeyAgentToken]; ok {
		dii[KeyAgentToken] = Masked
	}
	node := map[string]any{
		"uuid": n.UUID, "name": nilIfEmpty(n.Name), "driver": "fake-hardware",
		"provision_state": n.ProvisionState, "power_state": "power on",
		"properties": deepCopy(n.Properties), "instance_info": deepCopy(n.InstanceInfo),
		"driver_info": deepCopy(n.DriverInfo), "driver_internal_info": dii,
		"target_raid_config": deepCopy(n.TargetRAIDConfig),
		"deploy_interface":   "direct", "boot_interface": "fake", "management_interface": "noop",
		"last_error": nilIfEmpty(n.LastError), "maintenance": false,
	}
	ports := make([]map[string]any, len(n.MACs))
	for i, mac := range n.MACs {
		ports[i] = map[string]any{
			"uuid": n.portUUIDs[i], "address": mac, "node_uuid": n.UUID, "pxe_enabled": true,
			"local_link_connection": map[string]any{}, "extra": map[string]any{},
			"physical_network": nil, "portgroup_uuid": nil, "is_smartnic": false, "name": nil,
		}
	}
	return map[string]any{"node": node, "ports": ports}, nil
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// GetSteps runs <kind>.get_<kind>_steps (wait=true).
func (c *Conductor) GetSteps(ctx context.Context, kind string) (*Steps, error) {
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	params, err := c.stepParams()
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s.get_%s_steps", kind, kind)
	r, err := c.Agent.Run(ctx, name, params, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := succeeded(name, r); err != nil {
		return nil, err
	}
	var res map[string]json.RawMessage
	if err := r.Decode(&res); err != nil {
		return nil, err
	}
	steps := &Steps{}
	if err := decodeField(res, kind+"_steps", &steps.Steps); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := decodeField(res, "hardware_manager_version", &steps.HardwareManagerVersion); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return steps, nil
}

// ExecuteStep starts <kind>.execute_<kind>_step (wait=false); the agent must
// answer RUNNING.
func (c *Conductor) ExecuteStep(ctx context.Context, kind string, step Step, version map[string]string) (*client.Result, error) {
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	params, err := c.stepParams()
	if err != nil {
		return nil, err
	}
	params["step"] = step
	params[kind+"_version"] = version
	name := fmt.Sprintf("%s.execute_%s_step", kind, kind)
	r, err := c.Agent.Run(ctx, name, params, false)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", name, step.Step, err)
	}
	switch {
	case r.Running():
		return r, nil
	case r.VersionMismatch():
		return r, fmt.Errorf("%s %s: %w: %s", name, step.Step, ErrVersionMismatch, errText(r))
	case r.CommandStatus == client.StatusFailed:
		return r, fmt.Errorf("%s %s: %w: %s", name, step.Step, ErrStepFailed, errText(r))
	}
	return r, fmt.Errorf("%s %s: %w (got %s)", name, step.Step, ErrNotRunning, r.CommandStatus)
}

// WaitStep waits for a step started by ExecuteStep to finish, judging it the
// way the conductor does on every heartbeat (and every PollInterval): the
// LAST command must be execute_<kind>_step; RUNNING, or SUCCEEDED for another
// step, means wait; SUCCEEDED with command_result.<kind>_step equal to step
// (interface and name) means done.
func (c *Conductor) WaitStep(ctx context.Context, kind string, step Step) (*client.Result, error) {
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	poll := c.PollInterval
	if poll <= 0 {
		poll = DefaultPollInterval
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s step %s: %w", kind, step.Step, ctx.Err())
		case <-c.beats:
		case <-t.C:
		}
		r, err := c.checkStep(ctx, kind, step)
		if r != nil || err != nil {
			return r, err
		}
	}
}

// checkStep is one look at the command list; (nil, nil) means keep waiting.
func (c *Conductor) checkStep(ctx context.Context, kind string, step Step) (*client.Result, error) {
	cmds, err := c.Agent.Commands(ctx)
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		return nil, fmt.Errorf("%s step %s: %w", kind, step.Step, err)
	}
	if err != nil {
		// Unreachable agents are retried on the next heartbeat.
		c.srv.log.Debug("fake conductor: agent unreachable", "node", c.uuid, "error", err)
		return nil, nil
	}
	if len(cmds) == 0 {
		return nil, nil
	}
	last := &cmds[len(cmds)-1]
	if last.CommandName != "execute_"+kind+"_step" {
		return nil, nil
	}
	switch {
	case last.Running():
		return nil, nil
	case last.VersionMismatch():
		return last, fmt.Errorf("%s step %s: %w: %s", kind, step.Step, ErrVersionMismatch, errText(last))
	case last.CommandStatus == client.StatusFailed:
		return last, fmt.Errorf("%s step %s: %w: %s", kind, step.Step, ErrStepFailed, errText(last))
	case last.CommandStatus != client.StatusSucceeded:
		return last, fmt.Errorf("%s step %s: unknown command_status %q", kind, step.Step, last.CommandStatus)
	}
	var res map[string]json.RawMessage
	if err := last.Decode(&res); err != nil {
		return last, err
	}
	var echoed Step
	if decodeField(res, kind+"_step", &echoed) != nil || echoed.Interface != step.Interface || echoed.Step != step.Step {
		return nil, nil // a previous step's result: not ours yet
	}
	return last, nil
}

// errText is what the conductor puts in last_error: details, else message.
func errText(r *client.Result) string {
	if r.CommandError == nil {
		return "no command_error"
	}
	if r.CommandError.Details != "" {
		return r.CommandError.Details
	}
	return r.CommandError.Message
}

func succeeded(name string, r *client.Result) error {
	if r.CommandStatus == client.StatusSucceeded {
		return nil
	}
	return fmt.Errorf("%s: %w: %s: %s", name, ErrCommandFailed, r.CommandStatus, errText(r))
}

// PartitionUUIDs is the answer of standby.get_partition_uuids.
type PartitionUUIDs struct {
	RootUUID               string         `json:"root uuid"`
	EFISystemPartitionUUID string         `json:"efi system partition uuid,omitempty"`
	PRePBootPartitionUUID  string         `json:"PReP Boot partition uuid,omitempty"`
	Partitions             map[string]any `json:"partitions,omitempty"`
}

// GetPartitionUUIDs runs standby.get_partition_uuids (wait=true).
func (c *Conductor) GetPartitionUUIDs(ctx context.Context) (*PartitionUUIDs, error) {
	const name = "standby.get_partition_uuids"
	r, err := c.Agent.Run(ctx, name, nil, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := succeeded(name, r); err != nil {
		return nil, err
	}
	var p PartitionUUIDs
	if string(r.CommandResult) == "null" {
		return &p, nil
	}
	if err := r.Decode(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

// PowerOff starts standby.power_off (wait=false) and returns its RUNNING
// result; the agent then powers the machine off.
func (c *Conductor) PowerOff(ctx context.Context) (*client.Result, error) {
	const name = "standby.power_off"
	r, err := c.Agent.Run(ctx, name, nil, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if r.CommandStatus == client.StatusFailed {
		return r, fmt.Errorf("%s: %w: %s", name, ErrCommandFailed, errText(r))
	}
	return r, nil
}

// Sync runs standby.sync (wait=true); like the conductor it accepts an
// agent that does not know the command.
func (c *Conductor) Sync(ctx context.Context) error {
	const name = "standby.sync"
	r, err := c.Agent.Run(ctx, name, nil, true)
	var apiErr *client.APIError
	if errors.As(err, &apiErr) && strings.Contains(apiErr.FaultString, "Unknown command") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return succeeded(name, r)
}

// CollectLogs runs log.collect_system_logs (wait=true) and returns the
// decoded gzipped tar.
func (c *Conductor) CollectLogs(ctx context.Context) ([]byte, error) {
	const name = "log.collect_system_logs"
	r, err := c.Agent.Run(ctx, name, nil, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := succeeded(name, r); err != nil {
		return nil, err
	}
	var res struct {
		SystemLogs string `json:"system_logs"`
	}
	if err := r.Decode(&res); err != nil {
		return nil, err
	}
	data, err := base64.StdEncoding.DecodeString(res.SystemLogs)
	if err != nil {
		return nil, fmt.Errorf("%s: system_logs: %w", name, err)
	}
	return data, nil
}

// BootloaderParams are the params of image.install_bootloader.
type BootloaderParams struct {
	RootUUID               string  `json:"root_uuid"`
	EFISystemPartitionUUID *string `json:"efi_system_part_uuid"`
	PRePBootPartitionUUID  *string `json:"prep_boot_part_uuid"`
	TargetBootMode         string  `json:"target_boot_mode"`
}

// InstallBootloader starts image.install_bootloader (wait=false) and polls
// the command list until it finishes, as the conductor does.
func (c *Conductor) InstallBootloader(ctx context.Context, p BootloaderParams) (*client.Result, error) {
	const name = "image.install_bootloader"
	if _, err := c.Agent.Run(ctx, name, p, false); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	poll := c.PollInterval
	if poll <= 0 {
		poll = DefaultPollInterval
	}
	r, err := c.Agent.WaitCommand(ctx, name, poll)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return r, succeeded(name, r)
}
