package ipa

import "encoding/json"

// Node is the node as the conductor sends it with get_*_steps and
// execute_*_step (and lookup returns it): what steps read, typed; the
// objects Ironic keeps free-form stay maps. Fields keeps the whole object,
// for inject_files' URL templates ({node[...]}).
type Node struct {
	UUID               string
	Properties         map[string]any
	InstanceInfo       map[string]any
	DriverInfo         map[string]any
	DriverInternalInfo map[string]any
	TargetRAIDConfig   map[string]any
	Fields             map[string]any
}

// NewNode types the fields of a node object.
func NewNode(fields map[string]any) Node {
	obj := func(k string) map[string]any {
		m, _ := fields[k].(map[string]any)
		return m
	}
	uuid, _ := fields["uuid"].(string)
	return Node{UUID: uuid, Properties: obj("properties"), InstanceInfo: obj("instance_info"), DriverInfo: obj("driver_info"),
		DriverInternalInfo: obj("driver_internal_info"), TargetRAIDConfig: obj("target_raid_config"), Fields: fields}
}

// UnmarshalJSON reads the node object once; a non-object is an error.
func (n *Node) UnmarshalJSON(b []byte) error {
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	*n = NewNode(fields)
	return nil
}

// Empty reports a node the conductor did not send.
func (n Node) Empty() bool { return n.Fields == nil }
