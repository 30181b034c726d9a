package ipa

import (
	"encoding/json"
	"testing"
)

// TestNodeDecodedOnce: the fields steps read come typed from one decode of
// the node object; free-form objects stay maps, the whole object stays in
// Fields; null is an absent node and a non-object is refused.
func TestNodeDecodedOnce(t *testing.T) {
	var p struct {
		Node Node `json:"node"`
	}
	body := `{"node":{"uuid":"u1","properties":{"root_device":{"size":100}},"driver_info":{"agent_burnin_cpu_timeout":"5"},
		"driver_internal_info":{"agent_erase_devices_zeroize":false},"instance_info":{},"target_raid_config":{"logical_disks":[]},"extra":{"k":"v"}}}`
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	n := p.Node
	if n.UUID != "u1" || n.Properties["root_device"] == nil || n.DriverInfo["agent_burnin_cpu_timeout"] != "5" ||
		n.DriverInternalInfo["agent_erase_devices_zeroize"] != false || n.InstanceInfo == nil || n.TargetRAIDConfig == nil ||
		n.Fields["extra"] == nil || n.Empty() {
		t.Errorf("node = %+v", n)
	}
	p.Node = Node{}
	if err := json.Unmarshal([]byte(`{"node":null}`), &p); err != nil || !p.Node.Empty() {
		t.Errorf("null node: %+v, %v", p.Node, err)
	}
	if err := json.Unmarshal([]byte(`{"node":"u1"}`), &p); err == nil {
		t.Error("a string was taken for a node")
	}
}
