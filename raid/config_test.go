package raid

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseConfigRefuses(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"no logical disks", `{}`, "logical_disks must be a non-empty list"},
		{"empty list", `{"logical_disks": []}`, "logical_disks must be a non-empty list"},
		{"not an object", `{"logical_disks": ["x"]}`, "logical disk 0: not an object"},
		{"hardware controller", `{"logical_disks": [{"size_gb": 10, "raid_level": "1", "controller": "RAID.Integrated.1-1"}]}`,
			`logical disk 0: controller is "RAID.Integrated.1-1", only "software"`},
		{"controller missing", `{"logical_disks": [{"size_gb": 10, "raid_level": "1"}]}`, "logical disk 0: controller is missing"},
		{"level 5+0", `{"logical_disks": [{"size_gb": 10, "raid_level": "5+0", "controller": "software"}]}`, `logical disk 0: raid_level "5+0" is not supported`},
		{"level number", `{"logical_disks": [{"size_gb": 10, "raid_level": 1, "controller": "software"}]}`, "logical disk 0: raid_level 1 is not a string"},
		{"size missing", `{"logical_disks": [{"raid_level": "1", "controller": "software"}]}`, "logical disk 0: size_gb is missing"},
		{"size zero", `{"logical_disks": [{"size_gb": 0, "raid_level": "1", "controller": "software"}]}`, "logical disk 0: size_gb 0 must be a positive whole number"},
		{"size fraction", `{"logical_disks": [{"size_gb": 1.5, "raid_level": "1", "controller": "software"}]}`, "logical disk 0: size_gb 1.5 must be a positive"},
		{"size word", `{"logical_disks": [{"size_gb": "max", "raid_level": "1", "controller": "software"}]}`, `logical disk 0: size_gb "max" is neither`},
		{"two MAX", `{"logical_disks": [{"size_gb": "MAX", "raid_level": "1", "controller": "software"}, {"size_gb": "MAX", "raid_level": "0", "controller": "software"}]}`,
			"logical disk 1: size_gb MAX, but logical disk 0 already takes the rest"},
		{"too few physical disks", `{"logical_disks": [{"size_gb": 10, "raid_level": "5", "controller": "software", "physical_disks": [{"name": "/dev/sda"}, {"name": "/dev/sdb"}]}]}`,
			"logical disk 0: RAID-5 needs at least 3 disks, physical_disks names 2"},
		{"1+0 needs 4", `{"logical_disks": [{"size_gb": 10, "raid_level": "1+0", "controller": "software", "physical_disks": [{"name": "/dev/sda"}, {"name": "/dev/sdb"}, {"name": "/dev/sdc"}]}]}`,
			"RAID-1+0 needs at least 4 disks"},
		{"hint not object", `{"logical_disks": [{"size_gb": 10, "raid_level": "1", "controller": "software", "physical_disks": ["/dev/sda", "/dev/sdb"]}]}`,
			"logical disk 0: physical_disks[0] is not a device hint object"},
		{"bad volume name", `{"logical_disks": [{"size_gb": 10, "raid_level": "1", "controller": "software", "volume_name": "my root"}]}`, `logical disk 0: volume_name "my root" must be`},
		{"esp reserved", `{"logical_disks": [{"size_gb": 10, "raid_level": "1", "controller": "software", "volume_name": "esp"}]}`, `volume_name "esp" is reserved`},
		{"duplicate names", `{"logical_disks": [{"size_gb": 10, "raid_level": "1", "controller": "software", "volume_name": "md1"}, {"size_gb": 10, "raid_level": "1", "controller": "software"}]}`,
			`logical disk 1: volume_name "md1" is already used by logical disk 0`},
		{"two roots", `{"logical_disks": [{"size_gb": 10, "raid_level": "1", "controller": "software", "is_root_volume": true}, {"size_gb": 10, "raid_level": "1", "controller": "software", "is_root_volume": true}]}`,
			"logical disk 1: is_root_volume, but logical disk 0 is already the root volume"},
		{"root not bool", `{"logical_disks": [{"size_gb": 10, "raid_level": "1", "controller": "software", "is_root_volume": "yes"}]}`, `is_root_volume "yes" is not a boolean`},
		{"second disk wrong controller", `{"logical_disks": [{"size_gb": 10, "raid_level": "1", "controller": "software"}, {"size_gb": "MAX", "raid_level": "0"}]}`, "logical disk 1: controller is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(decode(t, tt.json))
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v\nwant ErrInvalidConfig with %q", err, tt.want)
			}
		})
	}
}

func TestParseConfigAccepts(t *testing.T) {
	raw := decode(t, `{"logical_disks": [
		{"size_gb": 100, "raid_level": "1", "controller": "software", "volume_name": "root"},
		{"size_gb": "MAX", "raid_level": "1+0", "controller": "software", "is_root_volume": false},
		{"size_gb": 20, "raid_level": "6", "controller": "software", "physical_disks": [{"size": ">= 10"}, {"size": ">= 10"}, {"size": ">= 10"}, {"size": ">= 10"}]}]}`)
	c, err := ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.LogicalDisks) != 3 {
		t.Fatalf("%d logical disks", len(c.LogicalDisks))
	}
	a, b, d := c.LogicalDisks[0], c.LogicalDisks[1], c.LogicalDisks[2]
	if a.SizeGB != 100 || a.Max || a.VolumeName != "root" || a.Level != "1" {
		t.Errorf("disk 0: %+v", a)
	}
	if !b.Max || b.VolumeName != "md1" || *b.IsRootVolume {
		t.Errorf("disk 1: %+v", b)
	}
	if len(d.PhysicalDisks) != 4 || d.VolumeName != "md2" {
		t.Errorf("disk 2: %+v", d)
	}
	if c.Root() != 0 {
		t.Errorf("root = %d, want the first volume", c.Root())
	}
	if got := c.RaidConfig()["logical_disks"].([]any); len(got) != 3 {
		t.Errorf("result is not the target_raid_config: %v", c.RaidConfig())
	}
}

func TestRoot(t *testing.T) {
	tests := []struct {
		json string
		want int
	}{
		{`{"logical_disks": [{"size_gb": 1, "raid_level": "1", "controller": "software"}, {"size_gb": 1, "raid_level": "0", "controller": "software", "is_root_volume": true}]}`, 1},
		{`{"logical_disks": [{"size_gb": 1, "raid_level": "1", "controller": "software", "is_root_volume": false}, {"size_gb": 1, "raid_level": "0", "controller": "software"}]}`, 1},
		{`{"logical_disks": [{"size_gb": 1, "raid_level": "1", "controller": "software", "is_root_volume": false}]}`, -1},
	}
	for _, tt := range tests {
		c, err := ParseConfig(decode(t, tt.json))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Root(); got != tt.want {
			t.Errorf("%s: root %d, want %d", tt.json, got, tt.want)
		}
	}
}
