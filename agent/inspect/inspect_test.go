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
	return Options{URL: url, Collectors: []string{"default", "logs", "pci-devices", "lldp", "bogus"},
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
	if b := inv["boot"].(map[string]any); b["pxe_interface"] != "01-52-54-00-12-34-56" {
		t.Errorf("boot = %v", b)
	}
	if got["logs"] != "bG9ncw==" || got["lldp_raw"].(map[string]any)["eth0"] == nil || got["pci_devices"] == nil {
		t.Errorf("collector data = logs %v lldp %v pci %v", got["logs"], got["lldp_raw"], got["pci_devices"])
	}
	if e, _ := got["error"].(string); e != "collector bogus failed: unknown collector" {
		t.Errorf("error = %v", got["error"])
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
