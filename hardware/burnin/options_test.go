package burnin

import (
	"errors"
	"testing"
	"time"
)

func TestParseCPU(t *testing.T) {
	for _, tc := range []struct {
		name string
		info map[string]any
		want CPUOptions
		err  error
	}{
		{"defaults", nil, CPUOptions{Timeout: 24 * time.Hour}, nil},
		{"numbers", map[string]any{"agent_burnin_cpu_cpu": 3.0, "agent_burnin_cpu_timeout": 120.0},
			CPUOptions{Workers: 3, Timeout: 2 * time.Minute}, nil},
		{"strings from the CLI", map[string]any{"agent_burnin_cpu_cpu": "2", "agent_burnin_cpu_timeout": "90"},
			CPUOptions{Workers: 2, Timeout: 90 * time.Second}, nil},
		{"stress-ng units", map[string]any{"agent_burnin_cpu_timeout": "2h"}, CPUOptions{Timeout: 2 * time.Hour}, nil},
		{"milliseconds", map[string]any{"agent_burnin_cpu_timeout": "250ms"}, CPUOptions{Timeout: 250 * time.Millisecond}, nil},
		{"output file", map[string]any{"agent_burnin_cpu_outputfile": "/tmp/x"}, CPUOptions{Timeout: 24 * time.Hour, OutputFile: "/tmp/x"}, nil},
		{"negative count", map[string]any{"agent_burnin_cpu_cpu": -1.0}, CPUOptions{}, ErrInvalidOption},
		{"fractional count", map[string]any{"agent_burnin_cpu_cpu": 1.5}, CPUOptions{}, ErrInvalidOption},
		{"bad timeout", map[string]any{"agent_burnin_cpu_timeout": "soon"}, CPUOptions{}, ErrInvalidOption},
		{"negative timeout", map[string]any{"agent_burnin_cpu_timeout": -5.0}, CPUOptions{}, ErrInvalidOption},
		{"timeout as a list", map[string]any{"agent_burnin_cpu_timeout": []any{1.0}}, CPUOptions{}, ErrInvalidOption},
		{"output file as a number", map[string]any{"agent_burnin_cpu_outputfile": 1.0}, CPUOptions{}, ErrInvalidOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCPU(tc.info)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err == nil && (got.Workers != tc.want.Workers || got.Timeout != tc.want.Timeout || got.OutputFile != tc.want.OutputFile) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseMemory(t *testing.T) {
	for _, tc := range []struct {
		name  string
		info  map[string]any
		bytes string
		err   error
	}{
		{"default 98%", nil, "98%", nil},
		{"size with unit", map[string]any{"agent_burnin_vm_vm-bytes": "512M", "agent_burnin_vm_vm": 2.0}, "512M", nil},
		{"bytes as a number", map[string]any{"agent_burnin_vm_vm-bytes": 1048576.0}, "1048576", nil},
		{"percentage over 100", map[string]any{"agent_burnin_vm_vm-bytes": "150%"}, "", ErrInvalidOption},
		{"unknown unit", map[string]any{"agent_burnin_vm_vm-bytes": "5X"}, "", ErrInvalidOption},
		{"zero", map[string]any{"agent_burnin_vm_vm-bytes": "0"}, "", ErrInvalidOption},
		{"bool", map[string]any{"agent_burnin_vm_vm-bytes": true}, "", ErrInvalidOption},
		{"bad timeout", map[string]any{"agent_burnin_vm_timeout": "x"}, "", ErrInvalidOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMemory(tc.info)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err == nil && got.Bytes != tc.bytes {
				t.Errorf("Bytes = %q, want %q", got.Bytes, tc.bytes)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"4096": 4096, "4k": 4096, "2M": 2 << 20, "1g": 1 << 30, "1T": 1 << 40, "100b": 100} {
		if got, _, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, p, err := parseSize("50%"); err != nil || p != 50 {
		t.Errorf("parseSize(50%%) = %v, %v", p, err)
	}
}

func TestParseDisk(t *testing.T) {
	for _, tc := range []struct {
		name string
		info map[string]any
		want DiskOptions
		err  error
	}{
		{"IPA defaults: 4 loops, no runtime", nil, DiskOptions{Loops: 4}, nil},
		{"time based", map[string]any{"agent_burnin_fio_disk_runtime": "30", "agent_burnin_fio_disk_loops": 1.0},
			DiskOptions{Loops: 1, Runtime: 30 * time.Second}, nil},
		{"zero loops", map[string]any{"agent_burnin_fio_disk_loops": 0.0}, DiskOptions{}, ErrInvalidOption},
		{"SMART false is fine", map[string]any{"agent_burnin_fio_disk_smart_test": "false"}, DiskOptions{Loops: 4}, nil},
		{"SMART self-test refused", map[string]any{"agent_burnin_fio_disk_smart_test": true}, DiskOptions{}, ErrUnsupported},
		{"SMART not a bool", map[string]any{"agent_burnin_fio_disk_smart_test": "maybe"}, DiskOptions{}, ErrInvalidOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDisk(tc.info)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err == nil && (got.Loops != tc.want.Loops || got.Runtime != tc.want.Runtime) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseNetwork(t *testing.T) {
	cfg := func(role, partner any) map[string]any {
		return map[string]any{"agent_burnin_fio_network_config": map[string]any{"role": role, "partner": partner}}
	}
	for _, tc := range []struct {
		name    string
		info    map[string]any
		role    string
		partner string
		err     error
	}{
		{"static writer", cfg("writer", "10.0.0.2"), "writer", "10.0.0.2", nil},
		{"static reader with port", cfg("reader", "node-b:9100"), "reader", "node-b:9100", nil},
		{"config as JSON text", map[string]any{"agent_burnin_fio_network_config": `{"role": "reader", "partner": "::1"}`}, "reader", "::1", nil},
		{"unknown role", cfg("sender", "10.0.0.2"), "", "", ErrInvalidOption},
		{"no partner", cfg("writer", ""), "", "", ErrInvalidOption},
		{"bad partner port", cfg("writer", "10.0.0.2:99999"), "", "", ErrInvalidOption},
		{"config not an object", map[string]any{"agent_burnin_fio_network_config": 5.0}, "", "", ErrInvalidOption},
		{"tooz pairing refused", map[string]any{"agent_burnin_fio_network_pairing_backend_url": "etcd3+http://x:2379"}, "", "", ErrUnsupported},
		{"nothing configured", nil, "", "", ErrInvalidOption},
		{"zero runtime", map[string]any{"agent_burnin_fio_network_runtime": 0.0,
			"agent_burnin_fio_network_config": map[string]any{"role": "writer", "partner": "x"}}, "", "", ErrInvalidOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseNetwork(tc.info)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if got.Role != tc.role || got.Partner != tc.partner || got.Runtime != 6*time.Hour || got.PairingTimeout != 900*time.Second {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func TestPartnerAddr(t *testing.T) {
	for in, want := range map[string]string{"10.0.0.2": "10.0.0.2:9000", "node-b": "node-b:9000", "node-b:9100": "node-b:9100",
		"fd00::2": "[fd00::2]:9000", "[fd00::2]:9001": "[fd00::2]:9001", "[fd00::2]": "[fd00::2]:9000"} {
		if got, err := partnerAddr(in); err != nil || got != want {
			t.Errorf("partnerAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a b", ":9000", "host:0"} {
		if got, err := partnerAddr(bad); err == nil {
			t.Errorf("partnerAddr(%q) = %q, want an error", bad, got)
		}
	}
}
