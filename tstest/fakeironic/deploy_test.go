package fakeironic

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// playAgent acts as a booted agent for a deploy: it looks up until the node
// is in a lookup state, heartbeats, finishes write_image (as result), and
// heartbeats again as IPA's forced heartbeat does.
func playAgent(t *testing.T, s *Server, a *testAgent, finish func(step any)) {
	for {
		r := do(t, "GET", s.URL()+"/v1/lookup?addresses="+testMAC, "1.62", nil)
		if r.code == 200 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	agentUpNoLookup(t, s, a)
	params := <-a.started
	finish(params["step"])
	heartbeatNow(t, s, a)
}

// agentUpNoLookup takes the token the lookup just handed out.
func agentUpNoLookup(t *testing.T, s *Server, a *testAgent) {
	n, _ := s.Node(testUUID)
	a.mu.Lock()
	a.token = n.DriverInternalInfo[KeyAgentToken].(string)
	a.mu.Unlock()
	heartbeatNow(t, s, a)
}

func TestDeploy(t *testing.T) {
	s := newServer(t, Options{}, StateAvailable)
	a := newTestAgent(t)
	go playAgent(t, s, a, func(step any) {
		a.finishLast("SUCCEEDED", map[string]any{"deploy_result": map[string]any{"result": "ok"}, "deploy_step": step}, nil)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	img := ImageInfo{URLs: []string{"http://127.0.0.1:1/images/disk.raw"}, DiskFormat: "raw", OSHashAlgo: "sha256", OSHashValue: "abc", StreamRawImages: true}
	rep, err := s.Deploy(ctx, testUUID, img, DeployOptions{PowerOff: true, PollInterval: time.Hour})
	if err != nil {
		t.Fatalf("Deploy = %v", err)
	}
	want := []string{"deploy.get_deploy_steps wait=true", "deploy.execute_deploy_step wait=false", "standby.get_partition_uuids wait=true", "standby.power_off wait=false"}
	if got := a.callNames(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls = %q, want %q", got, want)
	}
	a.mu.Lock()
	step := a.calls[1].Params["step"].(map[string]any)
	a.mu.Unlock()
	ii := step["args"].(map[string]any)["image_info"].(map[string]any)
	if step["step"] != "write_image" || ii["id"] != "disk.raw" || ii["node_uuid"] != testUUID || ii["os_hash_value"] != "abc" || ii["stream_raw_images"] != true {
		t.Errorf("write_image step = %v", step)
	}
	if rep.PartitionUUIDs.RootUUID != "0x00000000" || rep.Write == nil || rep.FirstHeartbeat.Before(rep.Start) || rep.WriteEnd.Before(rep.WriteStart) || rep.End.Before(rep.WriteEnd) {
		t.Errorf("report = %+v", rep)
	}
	n, _ := s.Node(testUUID)
	if n.ProvisionState != StateActive || n.DriverInternalInfo[KeyAgentToken] != nil || n.InstanceInfo["image_source"] != img.URLs[0] {
		t.Errorf("node after deploy = %+v", n)
	}
}

func TestDeployFailureCollectsLogs(t *testing.T) {
	s := newServer(t, Options{}, StateAvailable)
	a := newTestAgent(t)
	go playAgent(t, s, a, func(any) {
		a.finishLast("FAILED", nil, map[string]any{"type": "ImageChecksumError", "code": 500, "message": "Error verifying image checksum", "details": "Image failed to verify against checksum."})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := s.Deploy(ctx, testUUID, ImageInfo{URLs: []string{"http://127.0.0.1:1/x.qcow2"}, DiskFormat: "qcow2"}, DeployOptions{PollInterval: time.Hour})
	if !errors.Is(err, ErrStepFailed) {
		t.Fatalf("Deploy = %v, want step failure", err)
	}
	if string(rep.Logs) != "tarball" {
		t.Errorf("logs = %q", rep.Logs)
	}
	n, _ := s.Node(testUUID)
	if n.ProvisionState != StateDeployFailed || n.LastError == "" {
		t.Errorf("node = %s %q", n.ProvisionState, n.LastError)
	}
}

func TestDeployTimesOutWithoutAgent(t *testing.T) {
	s := newServer(t, Options{}, StateAvailable)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := s.Deploy(ctx, testUUID, ImageInfo{URLs: []string{"http://127.0.0.1:1/x"}, DiskFormat: "raw"}, DeployOptions{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Deploy = %v", err)
	}
	if n, _ := s.Node(testUUID); n.ProvisionState != StateDeployFailed {
		t.Errorf("state = %s", n.ProvisionState)
	}
}
