package steps

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goipa/goipa/hardware/burnin"
	"github.com/goipa/goipa/hardware/erase"
	"github.com/goipa/goipa/ipa"
)

func burninRegistered(t *testing.T, list erase.ListDevices) *ipa.Generic {
	g := ipa.NewGeneric()
	RegisterBurnin(g, BurninConfig{Devices: list, Log: slog.New(slog.DiscardHandler)})
	return g
}

// TestRegisterLists: the steps sit in IPA's clean and service lists, in
// IPA's order, with IPA's attributes; burnin_gpu is not offered and
// burnin_disk is not a service step.
func TestBurninLists(t *testing.T) {
	g := burninRegistered(t, nil)
	names := func(kind string) []string {
		var out []string
		for _, s := range g.Steps(kind) {
			out = append(out, s.Step)
			if s.Interface != "deploy" || s.Priority != 0 || s.RebootRequested || s.Abortable == nil || !*s.Abortable || s.Argsinfo != nil {
				t.Errorf("%s step %+v: want deploy, priority 0, abortable, no reboot, no argsinfo", kind, s)
			}
		}
		return out
	}
	if got, want := names(ipa.Clean), []string{"burnin_cpu", "burnin_disk", "burnin_memory", "burnin_network"}; !slices.Equal(got, want) {
		t.Errorf("clean steps = %v, want %v", got, want)
	}
	if got, want := names(ipa.Service), []string{"burnin_cpu", "burnin_memory", "burnin_network"}; !slices.Equal(got, want) {
		t.Errorf("service steps = %v, want %v", got, want)
	}
	if got := names(ipa.Deploy); len(got) != 0 {
		t.Errorf("deploy steps = %v, want none", got)
	}
	if _, ok := g.Func("burnin_gpu"); ok {
		t.Error("burnin_gpu is registered without a GPU stack")
	}
}

func callBurnin(t *testing.T, g *ipa.Generic, name string, info map[string]any) (any, error) {
	fn, ok := g.Func(name)
	if !ok {
		t.Fatalf("%s not registered", name)
	}
	return fn(context.Background(), ipa.Request{Node: ipa.NewNode(map[string]any{"driver_info": info})})
}

func TestBurninCPUWithReport(t *testing.T) {
	out := filepath.Join(t.TempDir(), "cpu.json")
	res, err := callBurnin(t, burninRegistered(t, nil), "burnin_cpu", map[string]any{"agent_burnin_cpu_timeout": "50ms", "agent_burnin_cpu_cpu": "1",
		"agent_burnin_cpu_outputfile": out})
	if err != nil {
		t.Fatal(err)
	}
	var got burnin.CPUResult
	b, err := os.ReadFile(out)
	if err != nil || json.Unmarshal(b, &got) != nil || got.Workers != 1 || got.Rounds < 1 || res.(burnin.CPUResult).Workers != 1 {
		t.Errorf("report %s (%v), result %+v", b, err, res)
	}
}

// TestStepRefusals: bad or unsupported knobs are the conductor's
// InvalidCommandParamsError (400) with the reason; a failing device list
// fails the step.
func TestBurninRefusals(t *testing.T) {
	boom := errors.New("no disks today")
	g := burninRegistered(t, func(context.Context, map[string]any) ([]erase.Device, error) { return nil, boom })
	for _, tc := range []struct {
		step, want string
		info       map[string]any
	}{
		{"burnin_cpu", "agent_burnin_cpu_timeout", map[string]any{"agent_burnin_cpu_timeout": "forever"}},
		{"burnin_memory", "agent_burnin_vm_vm-bytes", map[string]any{"agent_burnin_vm_vm-bytes": "lots"}},
		{"burnin_disk", "SMART", map[string]any{"agent_burnin_fio_disk_smart_test": true}},
		{"burnin_network", "tooz", map[string]any{"agent_burnin_fio_network_pairing_backend_url": "zookeeper://x"}},
		{"burnin_network", "unknown role", map[string]any{"agent_burnin_fio_network_config": map[string]any{"role": "both", "partner": "x"}}},
	} {
		_, err := callBurnin(t, g, tc.step, tc.info)
		e := ipa.AsError(err)
		if e == nil || e.Code != http.StatusBadRequest || e.Type != "InvalidCommandParamsError" || !strings.Contains(e.Details, tc.want) {
			t.Errorf("%s %v: %+v, want a 400 naming %q", tc.step, tc.info, e, tc.want)
		}
	}
	if _, err := callBurnin(t, g, "burnin_disk", nil); !errors.Is(err, boom) {
		t.Errorf("burnin_disk with a failing device list: %v", err)
	}
}
