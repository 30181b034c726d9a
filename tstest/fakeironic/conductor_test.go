package fakeironic

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/agent/client"
)

// agentUp plays an agent's lookup and first heartbeat and returns the token.
func agentUp(t *testing.T, s *Server, a *testAgent) string {
	t.Helper()
	tok := tokenFor(t, s)
	a.mu.Lock()
	a.token = tok
	a.mu.Unlock()
	heartbeatNow(t, s, a)
	return tok
}

func heartbeatNow(t *testing.T, s *Server, a *testAgent) {
	t.Helper()
	a.mu.Lock()
	body := map[string]any{"callback_url": a.srv.URL, "agent_token": a.token, "agent_version": "0.1.0", "agent_verify_ca": a.caPEM}
	a.mu.Unlock()
	// Errorf, not Fatalf: playAgent calls this from its own goroutine.
	if r := do(t, "POST", s.URL()+"/v1/heartbeat/"+testUUID, "1.68", body); r.code != http.StatusAccepted {
		t.Errorf("heartbeat = %d %s", r.code, r.msg())
	}
}

func TestConductorNeedsAgent(t *testing.T) {
	s := newServer(t, Options{}, StateDeployWait)
	if _, err := s.Conductor(testUUID); !errors.Is(err, ErrNoAgent) {
		t.Errorf("Conductor before heartbeat = %v", err)
	}
	if _, err := s.Conductor("nope"); !errors.Is(err, ErrNodeNotFound) {
		t.Errorf("Conductor(unknown) = %v", err)
	}
}

func TestConductorCommands(t *testing.T) {
	s := newServer(t, Options{}, StateDeployWait)
	a := newTestAgent(t)
	agentUp(t, s, a)
	c, err := s.Conductor(testUUID)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	steps, err := c.GetSteps(ctx, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := steps.Find("deploy", "write_image"); !ok || steps.HardwareManagerVersion["generic_hardware_manager"] != "1.1" {
		t.Errorf("steps = %+v", steps)
	}
	a.mu.Lock()
	p := a.calls[0].Params
	a.mu.Unlock()
	node, _ := p["node"].(map[string]any)
	ports, _ := p["ports"].([]any)
	if node["uuid"] != testUUID || node["driver_internal_info"].(map[string]any)[KeyAgentToken] != Masked || len(ports) != 1 || ports[0].(map[string]any)["address"] != testMAC {
		t.Errorf("get_deploy_steps params = %v", p)
	}
	// The conductor sends the real configdrive to the agent (lookup masks it).
	if node["instance_info"].(map[string]any)["configdrive"] != "H4sI" {
		t.Errorf("instance_info sent = %v", node["instance_info"])
	}

	if _, err := c.GetSteps(ctx, "rescue"); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("GetSteps(rescue) = %v", err)
	}
	pu, err := c.GetPartitionUUIDs(ctx)
	if err != nil || pu.RootUUID != "0x00000000" || pu.EFISystemPartitionUUID != "" {
		t.Errorf("GetPartitionUUIDs = %+v, %v", pu, err)
	}
	if err := c.Sync(ctx); err != nil {
		t.Errorf("Sync = %v", err)
	}
	logs, err := c.CollectLogs(ctx)
	if err != nil || string(logs) != "tarball" {
		t.Errorf("CollectLogs = %q, %v", logs, err)
	}
	if r, err := c.PowerOff(ctx); err != nil || !r.Running() {
		t.Errorf("PowerOff = %+v, %v", r, err)
	}

	c.PollInterval = 5 * time.Millisecond
	go func() {
		time.Sleep(20 * time.Millisecond)
		a.finishLast("SUCCEEDED", nil, nil)
	}()
	if r, err := c.InstallBootloader(ctx, BootloaderParams{RootUUID: "0x00000000", TargetBootMode: "uefi"}); err != nil || r.CommandName != "install_bootloader" {
		t.Errorf("InstallBootloader = %+v, %v", r, err)
	}
	a.mu.Lock()
	bl := a.calls[len(a.calls)-1].Params
	a.mu.Unlock()
	if bl["target_boot_mode"] != "uefi" || bl["efi_system_part_uuid"] != nil || !hasKey(bl, "prep_boot_part_uuid") {
		t.Errorf("install_bootloader params = %v", bl)
	}

	want := []string{
		"deploy.get_deploy_steps wait=true", "standby.get_partition_uuids wait=true", "standby.sync wait=true",
		"log.collect_system_logs wait=true", "standby.power_off wait=false", "image.install_bootloader wait=false",
	}
	if got := a.callNames(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls = %q, want %q", got, want)
	}
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

func TestExecuteAndWaitStep(t *testing.T) {
	write := Step{Interface: "deploy", Step: "write_image", Priority: 80, Args: map[string]any{"image_info": map[string]any{"id": "x"}}}
	cmd := func(name, status string, result, cmdErr any) map[string]any {
		return map[string]any{"id": "c", "command_name": name, "command_status": status, "command_result": result, "command_error": cmdErr}
	}
	echo := func(step Step) map[string]any {
		return map[string]any{"deploy_result": nil, "deploy_step": map[string]any{"interface": step.Interface, "step": step.Step, "args": step.Args}}
	}
	checksumErr := map[string]any{"type": "ImageChecksumError", "code": 500, "message": "Error verifying image checksum", "details": "Image failed to verify against checksum."}
	tests := []struct {
		name    string
		cmds    []map[string]any
		wantErr error  // nil: succeeds; context.DeadlineExceeded: keeps waiting
		msg     string // in the error
	}{
		{"done", []map[string]any{cmd("get_deploy_steps", "SUCCEEDED", nil, nil), cmd("execute_deploy_step", "SUCCEEDED", echo(write), nil)}, nil, ""},
		{"failed", []map[string]any{cmd("execute_deploy_step", "FAILED", nil, checksumErr)}, ErrStepFailed, "Image failed to verify against checksum."},
		{"failed no details", []map[string]any{cmd("execute_deploy_step", "FAILED", nil, map[string]any{"type": "X", "code": 500, "message": "Command execution failed", "details": ""})}, ErrStepFailed, "Command execution failed"},
		{"version mismatch", []map[string]any{cmd("execute_deploy_step", "CLEAN_VERSION_MISMATCH", nil, map[string]any{"type": "VersionMismatch", "code": 409, "message": "Hardware managers version mismatch"})}, ErrVersionMismatch, "version mismatch"},
		{"other step done", []map[string]any{cmd("execute_deploy_step", "SUCCEEDED", echo(Step{Interface: "deploy", Step: "erase_devices_metadata"}), nil)}, context.DeadlineExceeded, ""},
		{"other interface", []map[string]any{cmd("execute_deploy_step", "SUCCEEDED", echo(Step{Interface: "raid", Step: "write_image"}), nil)}, context.DeadlineExceeded, ""},
		{"running", []map[string]any{cmd("execute_deploy_step", "RUNNING", nil, nil)}, context.DeadlineExceeded, ""},
		{"last is another command", []map[string]any{cmd("execute_deploy_step", "SUCCEEDED", echo(write), nil), cmd("get_partition_uuids", "SUCCEEDED", nil, nil)}, context.DeadlineExceeded, ""},
		{"only get steps", []map[string]any{cmd("get_deploy_steps", "SUCCEEDED", nil, nil)}, context.DeadlineExceeded, ""},
		{"no commands", nil, context.DeadlineExceeded, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Options{}, StateDeployWait)
			a := newTestAgent(t)
			agentUp(t, s, a)
			c, err := s.Conductor(testUUID)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.PollInterval = 5 * time.Millisecond
			a.setCommands(tt.cmds...)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			r, err := c.WaitStep(ctx, "deploy", write)
			if !errors.Is(err, tt.wantErr) || tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("WaitStep = %v, want %v %q", err, tt.wantErr, tt.msg)
			}
			if tt.wantErr == nil && (r == nil || r.CommandName != "execute_deploy_step") {
				t.Errorf("result = %+v", r)
			}
		})
	}
}

func TestWaitStepWakesOnHeartbeat(t *testing.T) {
	s := newServer(t, Options{}, StateDeployWait)
	a := newTestAgent(t)
	agentUp(t, s, a)
	c, err := s.Conductor(testUUID)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.PollInterval = time.Hour // only a heartbeat can end the wait
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	step := Step{Interface: "deploy", Step: "write_image"}
	r, err := c.ExecuteStep(ctx, "deploy", step, map[string]string{"generic_hardware_manager": "1.1"})
	if err != nil || !r.Running() {
		t.Fatalf("ExecuteStep = %+v, %v", r, err)
	}
	params := <-a.started
	if params["deploy_version"].(map[string]any)["generic_hardware_manager"] != "1.1" || params["step"].(map[string]any)["step"] != "write_image" || params["node"] == nil || params["ports"] == nil {
		t.Errorf("execute_deploy_step params = %v", params)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.WaitStep(ctx, "deploy", step)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	a.finishLast("SUCCEEDED", map[string]any{"deploy_result": nil, "deploy_step": params["step"]}, nil)
	select {
	case err := <-done:
		t.Fatalf("WaitStep returned %v before any heartbeat", err)
	case <-time.After(30 * time.Millisecond):
	}
	heartbeatNow(t, s, a)
	if err := <-done; err != nil {
		t.Fatalf("WaitStep = %v", err)
	}
}

func TestExecuteStepMustRun(t *testing.T) {
	tests := []struct {
		name   string
		busy   bool
		status string
		want   error
		msg    string
	}{
		{"busy", true, "", nil, "Agent is busy"},
		{"answered SUCCEEDED", false, "SUCCEEDED", ErrNotRunning, "got SUCCEEDED"},
		{"answered FAILED", false, "FAILED", ErrStepFailed, "no disk"},
		{"answered mismatch", false, "CLEAN_VERSION_MISMATCH", ErrVersionMismatch, "no disk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Options{}, StateDeployWait)
			a := newTestAgent(t)
			agentUp(t, s, a)
			c, _ := s.Conductor(testUUID)
			defer c.Close()
			a.mu.Lock()
			a.busy, a.executeStatus = tt.busy, tt.status
			a.mu.Unlock()
			_, err := c.ExecuteStep(context.Background(), "deploy", Step{Interface: "deploy", Step: "write_image"}, nil)
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("ExecuteStep = %v, want %v %q", err, tt.want, tt.msg)
			}
			if tt.busy && !client.IsBusy(err) {
				t.Errorf("busy error not recognisable: %v", err)
			}
		})
	}
}
