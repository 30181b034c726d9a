package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/goipa/goipa/hardware"
	"github.com/goipa/goipa/tstest/fakesys"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct {
		cb, api []string
		set     bool
		want    string
	}{
		{[]string{"http://i:5050/v1/continue"}, nil, false, "http://i:5050/v1/continue"},
		{nil, []string{"http://ironic:6385/"}, true, "http://ironic:6385/v1/continue_inspection"},
		{nil, []string{"http://ironic:6385"}, false, ""},
		{[]string{"mdns"}, nil, false, ""},
	} {
		if got := URL(tc.cb, tc.api, tc.set); got != tc.want {
			t.Errorf("URL(%v, %v, %v) = %q, want %q", tc.cb, tc.api, tc.set, got, tc.want)
		}
	}
}

func options(t *testing.T, url string) Options {
	root := fakesys.NIC(t, "eth0", "52:54:00:12:34:56")
	pci := filepath.Join(root, "bus/pci/devices/0000:00:03.0")
	os.MkdirAll(pci, 0o755)
	os.MkdirAll(filepath.Join(root, "block"), 0o755)
	os.WriteFile(filepath.Join(pci, "vendor"), []byte("0x1af4\n"), 0o644)
	return Options{URL: url, Collectors: []string{"default", "logs", "pci-devices", "lldp"},
		HTTP: http.DefaultClient, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Root: hardware.Root{Sys: root, Dev: t.TempDir()}, BootIF: "01-52-54-00-12-34-56", SkipBMC: true,
		Logs: func(context.Context) (string, error) { return "bG9ncw==", nil },
		LLDP: func(context.Context, []string) map[string][]hardware.TLV {
			return map[string][]hardware.TLV{"eth0": {{Type: 1, Hex: "04525400123456"}}}
		},
		Managers: []Manager{{Name: "generic_hardware_manager", Version: "1.2"}},
		Retry:    backoff.WithMaxRetries(&backoff.ConstantBackOff{Interval: time.Millisecond}, 4)}
}

func TestRunSendsCollectorsAndReturnsUUID(t *testing.T) {
	var got map[string]any
	fails := atomic.Int32{}
	fails.Store(2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fails.Add(-1) >= 0 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("X-OpenStack-Ironic-API-Version") != "" {
			t.Errorf("inspection must not send an API version, got %q", r.Header.Get("X-OpenStack-Ironic-API-Version"))
		}
		json.NewDecoder(r.Body).Decode(&got)
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{"uuid":"1be26c0b-03f2-4d2e-ae87-c02d7f33c123"}`))
	}))
	defer srv.Close()
	uuid, err := Run(context.Background(), options(t, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if uuid != "1be26c0b-03f2-4d2e-ae87-c02d7f33c123" {
		t.Errorf("uuid = %q", uuid)
	}
	inv, _ := got["inventory"].(map[string]any)
	ifs, _ := inv["interfaces"].([]any)
	if len(ifs) != 1 || ifs[0].(map[string]any)["mac_address"] != "52:54:00:12:34:56" {
		t.Fatalf("inventory interfaces = %v (error %v)", inv["interfaces"], got["error"])
	}
	if b := inv["boot"].(map[string]any); b["pxe_interface"] != "01-52-54-00-12-34-56" || got["boot_interface"] != "01-52-54-00-12-34-56" {
		t.Errorf("boot = %v, boot_interface %v", b, got["boot_interface"])
	}
	if got["logs"] != "bG9ncw==" || got["lldp_raw"].(map[string]any)["eth0"] == nil || got["pci_devices"] == nil {
		t.Errorf("collector data = logs %v lldp %v pci %v", got["logs"], got["lldp_raw"], got["pci_devices"])
	}
	if e, ok := got["error"]; !ok || e != nil {
		t.Errorf("error = %#v, want null", e)
	}
	if cfg := got["configuration"].(map[string]any); len(cfg["managers"].([]any)) != 1 {
		t.Errorf("configuration = %v", cfg)
	}
}

func TestRunRejected(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		http.Error(w, "no node", http.StatusNotFound)
	}))
	defer srv.Close()
	_, err := Run(context.Background(), options(t, srv.URL))
	if !errors.Is(err, ErrRejected) || calls != 1 {
		t.Errorf("err = %v after %d calls; want one call and ErrRejected", err, calls)
	}
}

// TestRunUnknownCollector checks IPA's handling of a name it has no
// plugin for: no collector runs, the data sent is the error alone, and the
// inspection fails (lookup then goes on without the node UUID).
func TestRunUnknownCollector(t *testing.T) {
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&got)
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{"uuid":"1be26c0b-03f2-4d2e-ae87-c02d7f33c123"}`))
	}))
	defer srv.Close()
	o := options(t, srv.URL)
	o.Collectors = []string{"default", "nope", "logs", "bogus", "nope"}
	uuid, err := Run(context.Background(), o)
	if !errors.Is(err, ErrUnknownCollector) || uuid != "" {
		t.Errorf("Run = %q, %v; want no UUID and ErrUnknownCollector", uuid, err)
	}
	want := map[string]any{"error": "The following errors were encountered:\n* Failed to load collector {'bogus', 'nope'}"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sent %#v, want %#v", got, want)
	}
}

// TestCollectMetal3 runs the collector lines Metal3 and OpenShift boot the
// ramdisk with: none may report an error (Ironic's ramdisk-error hook
// would fail the inspection), and each collector's key has IPA's shape.
func TestCollectMetal3(t *testing.T) {
	o := options(t, "")
	pci, _ := filepath.EvalSymlinks(filepath.Join(o.Root.Sys, "class/net/eth0/device"))
	node := filepath.Join(o.Root.Sys, "devices/system/node/node0")
	for p, v := range map[string]string{
		filepath.Join(pci, "numa_node"):                               "0\n",
		filepath.Join(node, "meminfo"):                                "Node 0 MemTotal: 2048000 kB\n",
		filepath.Join(node, "cpu0/topology/core_id"):                  "0\n",
		filepath.Join(o.Root.Sys, "bus/usb/devices/1-1/bDeviceClass"): "ff\n",
	} {
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(v), 0o644)
	}
	type shape struct {
		Data         [][4]any `json:"data"`
		NUMATopology *struct {
			RAM  []struct{ NUMANode, SizeKB *int } `json:"ram"`
			CPUs []struct {
				CPU            *int  `json:"cpu"`
				NUMANode       *int  `json:"numa_node"`
				ThreadSiblings []int `json:"thread_siblings"`
			} `json:"cpus"`
			NICs []struct {
				Name     string `json:"name"`
				NUMANode *int   `json:"numa_node"`
			} `json:"nics"`
		} `json:"numa_topology"`
		DMI *struct {
			BIOS   map[string]any   `json:"bios"`
			CPU    []map[string]any `json:"cpu"`
			Memory struct {
				Devices []map[string]any `json:"devices"`
			} `json:"memory"`
		} `json:"dmi"`
		USB []struct{ Product, Vendor, Handle *string } `json:"usb_devices"`
	}
	for _, line := range []string{
		"default,extra-hardware,logs",
		"default,extra-hardware,logs,numa-topology,dmi-decode,usb-devices",
		"default,logs",
	} {
		t.Run(line, func(t *testing.T) {
			o.Collectors = strings.Split(line, ",")
			data, err := Collect(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if e, ok := data["error"]; !ok || e != nil {
				t.Fatalf("error = %#v, want null", e)
			}
			b, _ := json.Marshal(data)
			var got shape
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%v: %s", err, b)
			}
			has := func(c string) bool { return strings.Contains(line, c) }
			if has("extra-hardware") != (len(got.Data) > 0) {
				t.Errorf("data = %v", got.Data)
			}
			for _, f := range got.Data {
				for i := range 3 {
					if _, ok := f[i].(string); !ok {
						t.Errorf("fact %v: item %d is not a string", f, i)
					}
				}
			}
			if n := got.NUMATopology; has("numa") != (n != nil) ||
				n != nil && (len(n.RAM) != 1 || len(n.CPUs) != 1 || n.CPUs[0].ThreadSiblings[0] != 0 || len(n.NICs) != 1 || n.NICs[0].Name != "eth0") {
				t.Errorf("numa_topology = %+v", n)
			}
			if has("dmi") != (got.DMI != nil) || got.DMI != nil && (got.DMI.BIOS == nil || got.DMI.CPU == nil || got.DMI.Memory.Devices == nil) {
				t.Errorf("dmi = %+v", got.DMI)
			}
			if has("usb") != (got.USB != nil) || got.USB != nil && (len(got.USB) != 1 || *got.USB[0].Handle != "USB:0:0") {
				t.Errorf("usb_devices = %+v", got.USB)
			}
		})
	}
}

// TestBootInterfaceNullWithoutBOOTIF: without BOOTIF (virtual media, a
// kernel line of the operator's) boot_interface and pxe_interface are null,
// as IPA sends them, not "".
func TestBootInterfaceNullWithoutBOOTIF(t *testing.T) {
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&got)
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{"uuid":"u"}`))
	}))
	defer srv.Close()
	o := options(t, srv.URL)
	o.BootIF = ""
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	b, ok := got["boot_interface"]
	inv, _ := got["inventory"].(map[string]any)
	boot, _ := inv["boot"].(map[string]any)
	if p, has := boot["pxe_interface"]; !ok || b != nil || !has || p != nil {
		t.Errorf("boot_interface %#v (present %v), inventory boot %#v", b, ok, boot)
	}
}
