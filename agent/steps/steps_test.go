package steps

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/goipa/goipa/ipa"
)

func setup(t *testing.T) *ipa.Runner {
	r, _ := setupCached(t)
	return r
}

// setupCached also returns the node last handed to the cache.
func setupCached(t *testing.T) (*ipa.Runner, *ipa.Node) {
	t.Helper()
	g := ipa.NewGeneric()
	g.Add(ipa.Deploy, ipa.Step{Interface: "deploy", Step: "write_image", Priority: 0}, func(_ context.Context, req ipa.Request) (any, error) {
		var a struct {
			ImageInfo struct{ ID string } `json:"image_info"`
		}
		if err := req.DecodeArgs(&a); err != nil {
			return nil, err
		}
		return "wrote " + a.ImageInfo.ID, nil
	})
	g.Add(ipa.Clean, ipa.Step{Interface: "deploy", Step: "erase_devices", Priority: 10}, func(context.Context, ipa.Request) (any, error) {
		return nil, errors.New("disk on fire")
	})
	r := ipa.NewRunner(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	cached := new(ipa.Node)
	Register(r, ipa.Select(g), func(n ipa.Node) { *cached = n })
	return r, cached
}

func result(t *testing.T, res *ipa.Result) map[string]any {
	t.Helper()
	<-res.Done()
	b, _ := json.Marshal(res)
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

func TestGetAndExecuteDeployStep(t *testing.T) {
	r := setup(t)
	res, err := r.Execute("deploy.get_deploy_steps", json.RawMessage(`{"node":{"uuid":"u"},"ports":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	m := result(t, res)
	cr := m["command_result"].(map[string]any)
	steps := cr["deploy_steps"].(map[string]any)["GenericHardwareManager"].([]any)
	if len(steps) != 1 || steps[0].(map[string]any)["step"] != "write_image" {
		t.Fatalf("deploy_steps = %v", cr)
	}
	if v := cr["hardware_manager_version"].(map[string]any); v["generic_hardware_manager"] != "1.2" {
		t.Fatalf("hardware_manager_version = %v", v)
	}

	step := `{"interface":"deploy","step":"write_image","args":{"image_info":{"id":"img"},"configdrive":null}}`
	res, err = r.Execute("deploy.execute_deploy_step", json.RawMessage(`{"step":`+step+`,"node":{},"ports":[],"deploy_version":{"generic_hardware_manager":"1.2"}}`))
	if err != nil {
		t.Fatal(err)
	}
	m = result(t, res)
	cr = m["command_result"].(map[string]any)
	if m["command_status"] != "SUCCEEDED" || cr["deploy_result"] != "wrote img" {
		t.Fatalf("result = %v", m)
	}
	var want map[string]any
	json.Unmarshal([]byte(step), &want)
	got, _ := json.Marshal(cr["deploy_step"])
	wantB, _ := json.Marshal(want)
	if string(got) != string(wantB) {
		t.Errorf("deploy_step echoed %s, sent %s", got, wantB)
	}
}

func TestExecuteErrors(t *testing.T) {
	r := setup(t)
	res, _ := r.Execute("deploy.execute_deploy_step", json.RawMessage(`{"step":{"interface":"deploy","step":"write_image"},"deploy_version":{"generic_hardware_manager":"1.1"}}`))
	if m := result(t, res); m["command_status"] != "CLEAN_VERSION_MISMATCH" {
		t.Errorf("stale version: %v", m)
	}
	res, _ = r.Execute("clean.execute_clean_step", json.RawMessage(`{"step":{"interface":"deploy","step":"erase_devices"},"clean_version":{"generic_hardware_manager":"1.2"}}`))
	m := result(t, res)
	if e := m["command_error"].(map[string]any); m["command_status"] != "FAILED" || e["details"] != "disk on fire" {
		t.Errorf("failing step: %v", m)
	}
	res, _ = r.Execute("clean.execute_clean_step", json.RawMessage(`{"step":{"interface":"deploy","step":"nope"}}`))
	if m := result(t, res); m["command_status"] != "FAILED" {
		t.Errorf("unknown step: %v", m)
	}
	if _, err := r.Execute("clean.execute_clean_step", json.RawMessage(`{"node":{}}`)); ipa.AsError(err).Code != 400 {
		t.Errorf("missing step: %v", err)
	}
}

func TestNodeCachedFromSteps(t *testing.T) {
	r, cached := setupCached(t)
	res, _ := r.Execute("deploy.get_deploy_steps", json.RawMessage(`{"node":{"uuid":"u1","target_raid_config":{"logical_disks":[]}},"ports":[]}`))
	<-res.Done()
	if cached.UUID != "u1" || cached.TargetRAIDConfig == nil {
		t.Errorf("cached node = %v", *cached)
	}
	res, _ = r.Execute("deploy.execute_deploy_step", json.RawMessage(`{"step":{"interface":"deploy","step":"write_image","args":{"image_info":{"id":"x"}}},"node":{"uuid":"u2"}}`))
	<-res.Done()
	if cached.UUID != "u2" {
		t.Errorf("cached node = %v, want the one sent with execute_deploy_step", *cached)
	}
}
