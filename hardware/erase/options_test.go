package erase

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseOptions(t *testing.T) {
	t.Parallel()
	def := Options{Iterations: 1, Zeroize: true, EnableNVMeSecureErase: true, EnableATASecureErase: true, Concurrency: 1}
	tests := []struct {
		name string
		dii  string // driver_internal_info JSON
		want func(o *Options)
	}{
		{"absent keys take IPA's defaults", `{"agent_url": "https://10.0.0.2:9999"}`, func(o *Options) {}},
		{"null is absent", `{"agent_erase_devices_iterations": null, "agent_erase_devices_zeroize": null}`, func(o *Options) {}},
		{"what Ironic sends by default", `{"agent_erase_devices_iterations": 1, "agent_erase_devices_zeroize": true,
			"agent_continue_if_secure_erase_failed": false, "agent_enable_nvme_secure_erase": true,
			"agent_enable_ata_secure_erase": true, "disk_erasure_concurrency": 4, "agent_erase_skip_read_only": false}`,
			func(o *Options) { o.Concurrency = 4 }},
		{"everything changed", `{"agent_erase_devices_iterations": 3, "agent_erase_devices_zeroize": false,
			"agent_continue_if_secure_erase_failed": true, "agent_enable_nvme_secure_erase": false,
			"agent_enable_ata_secure_erase": false, "disk_erasure_concurrency": 8, "agent_erase_skip_read_only": true}`,
			func(o *Options) {
				*o = Options{Iterations: 3, ContinueIfSecureEraseFailed: true, Concurrency: 8, SkipReadOnly: true}
			}},
		{"old ATA-only continue key", `{"agent_continue_if_ata_erase_failed": true}`,
			func(o *Options) { o.ContinueIfSecureEraseFailed = true }},
		{"new continue key wins over the old", `{"agent_continue_if_secure_erase_failed": false, "agent_continue_if_ata_erase_failed": true}`,
			func(o *Options) {}},
		{"strings as operators type them", `{"agent_erase_devices_iterations": "2", "agent_erase_devices_zeroize": "False",
			"agent_erase_skip_read_only": "yes", "disk_erasure_concurrency": " 3 "}`,
			func(o *Options) { o.Iterations, o.Zeroize, o.SkipReadOnly, o.Concurrency = 2, false, true, 3 }},
		{"zero passes", `{"agent_erase_devices_iterations": 0}`, func(o *Options) { o.Iterations = 0 }},
		{"0 and 1 as booleans", `{"agent_erase_devices_zeroize": 0, "agent_erase_skip_read_only": 1}`,
			func(o *Options) { o.Zeroize, o.SkipReadOnly = false, true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dii map[string]any
			must(t, json.Unmarshal([]byte(tt.dii), &dii))
			got, err := ParseOptions(dii)
			if err != nil {
				t.Fatal(err)
			}
			want := def
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ParseOptions(%s)\n got %+v\nwant %+v", tt.dii, got, want)
			}
		})
	}
}

func TestParseOptionsRejects(t *testing.T) {
	t.Parallel()
	tests := []struct{ dii, key string }{
		{`{"agent_erase_devices_iterations": -1}`, "agent_erase_devices_iterations"},
		{`{"agent_erase_devices_iterations": 1.5}`, "agent_erase_devices_iterations"},
		{`{"agent_erase_devices_iterations": 1000}`, "agent_erase_devices_iterations"},
		{`{"agent_erase_devices_iterations": "many"}`, "agent_erase_devices_iterations"},
		{`{"agent_erase_devices_iterations": true}`, "agent_erase_devices_iterations"},
		{`{"disk_erasure_concurrency": 0}`, "disk_erasure_concurrency"},
		{`{"disk_erasure_concurrency": 1e12}`, "disk_erasure_concurrency"},
		{`{"agent_erase_devices_zeroize": "maybe"}`, "agent_erase_devices_zeroize"},
		{`{"agent_erase_devices_zeroize": 2}`, "agent_erase_devices_zeroize"},
		{`{"agent_enable_ata_secure_erase": []}`, "agent_enable_ata_secure_erase"},
		{`{"agent_continue_if_ata_erase_failed": {}}`, "agent_continue_if_ata_erase_failed"},
	}
	for _, tt := range tests {
		var dii map[string]any
		must(t, json.Unmarshal([]byte(tt.dii), &dii))
		_, err := ParseOptions(dii)
		if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("ParseOptions(%s) = %v, want ErrInvalidOption naming %s", tt.dii, err, tt.key)
		}
	}
}
