package hardware

import (
	"errors"
	"strings"
	"testing"
)

func TestSelectRootDevice(t *testing.T) {
	devs := hintDevices()
	md := BlockDevice{Name: "/dev/md0", Size: 50 << 30, Type: "raid1", Slaves: []string{"/dev/sda1", "/dev/sdb1"}, Disks: []string{"/dev/sda", "/dev/sdb"}}
	withMD := append(hintDevices(), md)
	mustHints := func(m map[string]any) Hints {
		h, err := ParseHints(m)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	tests := []struct {
		name    string
		devices []BlockDevice
		hints   Hints
		opts    SelectOptions
		want    string // device name, or the error's text
	}{
		{"no hints: smallest of at least 4 GiB", devs, Hints{}, SelectOptions{}, "/dev/sdc"},
		{"no hints: size ties broken by name", []BlockDevice{{Name: "/dev/sdb", Size: 8 << 30}, {Name: "/dev/sda", Size: 8 << 30}, {Name: "/dev/sdc", Size: 3 << 30}}, Hints{}, SelectOptions{}, "/dev/sda"},
		{"no hints: all too small", []BlockDevice{{Name: "/dev/sda", Size: 4<<30 - 1}}, Hints{}, SelectOptions{}, "smaller than 4294967296B"},
		{"no devices", nil, Hints{}, SelectOptions{}, "no suitable device"},
		{"first match wins", devs, mustHints(map[string]any{"size": ">= 10"}), SelectOptions{}, "/dev/sda"},
		{"no match names the hints", devs, mustHints(map[string]any{"model": "s== foo"}), SelectOptions{}, `using these hints {"model":"s== foo"}`},
		{"skip list", devs, Hints{}, SelectOptions{Skip: []Hints{mustHints(map[string]any{"name": "/dev/sdc"})}}, "/dev/sda"},
		{"skip list with hints", devs, mustHints(map[string]any{"size": ">= 10"}), SelectOptions{Skip: []Hints{mustHints(map[string]any{"serial": "fakeserial"})}}, "/dev/sdb"},
		{"md device by hint", withMD, mustHints(map[string]any{"name": "md0"}), SelectOptions{}, "/dev/md0"},
		{"RAID root volume wins over hints", withMD, mustHints(map[string]any{"name": "sda"}), SelectOptions{RootVolume: "/dev/md0"}, "/dev/md0"},
		{"RAID root volume missing", devs, Hints{}, SelectOptions{RootVolume: "/dev/md1"}, "RAID root volume /dev/md1"},
		{"not-root volume excludes its disks", withMD, Hints{}, SelectOptions{NotRoot: []string{"/dev/md0"}}, "/dev/sdc"},
		{"not-root volume and the rest too small", append(withMD[:2:2], md), mustHints(map[string]any{"size": ">= 1"}), SelectOptions{NotRoot: []string{"/dev/md0"}}, "no suitable device"},
	}
	for _, tc := range tests {
		d, err := SelectRootDevice(tc.devices, tc.hints, tc.opts)
		switch {
		case err != nil && !errors.Is(err, ErrDeviceNotFound):
			t.Errorf("%s: error %v is not ErrDeviceNotFound", tc.name, err)
		case err != nil && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: error %q, want it to say %q", tc.name, err, tc.want)
		case err == nil && d.Name != tc.want:
			t.Errorf("%s: picked %s, want %s", tc.name, d.Name, tc.want)
		}
	}
}

func TestRootDeviceHints(t *testing.T) {
	tests := []struct {
		node map[string]any
		want string // the hints as JSON, or "error"
	}{
		{map[string]any{}, "null"},
		{map[string]any{"properties": map[string]any{"root_device": map[string]any{"size": 100}}}, `{"size":100}`},
		{map[string]any{
			"instance_info": map[string]any{"root_device": map[string]any{"serial": "abc"}},
			"properties":    map[string]any{"root_device": map[string]any{"size": 100}},
		}, `{"serial":"abc"}`},
		{map[string]any{
			"instance_info": map[string]any{"root_device": map[string]any{}},
			"properties":    map[string]any{"root_device": map[string]any{"size": 100}},
		}, `{"size":100}`},
		{map[string]any{"properties": map[string]any{"root_device": map[string]any{"colour": "red"}}}, "error"},
		{map[string]any{"properties": map[string]any{"root_device": "sda"}}, "error"},
	}
	for _, tc := range tests {
		ii, _ := tc.node["instance_info"].(map[string]any)
		props, _ := tc.node["properties"].(map[string]any)
		h, err := RootDeviceHints(ii, props)
		got := h.String()
		if err != nil {
			got = "error"
		}
		if got != tc.want {
			t.Errorf("RootDeviceHints(%v) = %s (%v), want %s", tc.node, got, err, tc.want)
		}
	}
}

func TestSkipList(t *testing.T) {
	props := map[string]any{"skip_block_devices": []any{
		map[string]any{"name": "/dev/sda"}, map[string]any{"volume_name": "large"}, map[string]any{"vendor": "winsys", "rotational": true},
	}}
	disks, volumes, err := SkipList(props)
	if err != nil {
		t.Fatal(err)
	}
	if len(volumes) != 1 || volumes[0] != "large" || len(disks) != 2 {
		t.Fatalf("SkipList = %v %v", disks, volumes)
	}
	if got := names(WithoutSkipped(hintDevices(), disks)); len(got) != 1 || got[0] != "/dev/sdc" {
		t.Errorf("WithoutSkipped = %v", got)
	}
	for _, bad := range []any{"sda", []any{"sda"}, []any{map[string]any{"colour": "red"}}, []any{map[string]any{"volume_name": 1}}} {
		if _, _, err := SkipList(map[string]any{"skip_block_devices": bad}); !errors.Is(err, ErrInvalidHints) {
			t.Errorf("SkipList(%v) = %v, want ErrInvalidHints", bad, err)
		}
	}
}
