package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/agent/config"
	"github.com/goipa/goipa/agent/ironic"
	"github.com/goipa/goipa/agent/logs"
	"github.com/goipa/goipa/agent/machine"
	"github.com/goipa/goipa/image"
	"github.com/goipa/goipa/tstest/fakeironic"
	"github.com/goipa/goipa/tstest/fakesys"
)

const testMAC = "52:54:00:aa:bb:01"

type running struct {
	port int
	// sshAddr is where the rescue SSH server listens once rescued.
	sshAddr string
	ring    *logs.Ring
	done    chan error
	stop    context.CancelFunc
	// lockedDown is closed when the agent locks itself down.
	lockedDown chan struct{}
}

// start runs an agent against the fake Ironic at apiURL, listening on a
// free loopback port.
func start(t *testing.T, apiURL string, extra ...string) *running {
	t.Helper()
	return startRescueDir(t, apiURL, t.TempDir(), extra...)
}

// startRescueDir is start with rescue.finalize_rescue's files in rescueDir.
func startRescueDir(t *testing.T, apiURL, rescueDir string, extra ...string) *running {
	t.Helper()
	port, sshPort := freePort(t), freePort(t)
	cmdline := filepath.Join(t.TempDir(), "cmdline")
	if err := os.WriteFile(cmdline, []byte("BOOTIF=01-52-54-00-aa-bb-01"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--cmdline-file", cmdline, "--config-dir", t.TempDir(), "--api-url", apiURL,
		"--listen-host", "127.0.0.1", "--advertise-host", "127.0.0.1",
		"--listen-port", strconv.Itoa(port), "--advertise-port", strconv.Itoa(port)}, extra...)
	cfg, err := config.Load(args)
	if err != nil {
		t.Fatal(err)
	}
	r := &running{port: port, sshAddr: fmt.Sprintf("127.0.0.1:%d", sshPort), ring: logs.NewRing(1<<20, nil), done: make(chan error, 1), lockedDown: make(chan struct{})}
	log := slog.New(slog.NewTextHandler(r.ring, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	a := &Agent{Config: cfg, Log: log, Ring: r.ring, SysfsRoot: fakesys.NIC(t, "eth0", testMAC),
		Machine: machine.Host{Log: log, Exit: cancel},
		Lockdown: func() {
			close(r.lockedDown)
			cancel()
		},
		RescueDir: rescueDir, RescueSSH: r.sshAddr}
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(5 * time.Second):
			t.Error("agent did not stop")
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", r.ring.Bytes())
		}
	})
	return r
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func newNode(t *testing.T, s *fakeironic.Server) fakeironic.Node {
	t.Helper()
	n, err := s.AddNode(fakeironic.Node{Name: "n0", MACs: []string{testMAC}, ProvisionState: fakeironic.StateDeployWait})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// agentUp starts a fake Ironic with one node waiting for its agent, starts
// the agent, and returns once Ironic accepted its first heartbeat.
func agentUp(t *testing.T, opts fakeironic.Options) (*fakeironic.Server, fakeironic.Node, *running, fakeironic.Heartbeat) {
	t.Helper()
	s := fakeironic.NewTest(t, opts)
	n := newNode(t, s)
	r := start(t, s.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hb, err := s.WaitAgent(ctx, n.UUID)
	if err != nil {
		t.Fatal(err)
	}
	return s, n, r, hb
}

// TestDeployStepsOverAutoTLS: lookup, an https heartbeat carrying the
// certificate, and the conductor driving the API with that certificate as
// its only trust anchor, as Ironic ≥ 1.68 does.
func TestDeployStepsOverAutoTLS(t *testing.T) {
	s, n, r, hb := agentUp(t, fakeironic.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if want := fmt.Sprintf("https://127.0.0.1:%d", r.port); hb.Body.CallbackURL != want {
		t.Errorf("callback_url = %q, want %q", hb.Body.CallbackURL, want)
	}
	if hb.APIVersion != "1.68" || !strings.HasPrefix(hb.Body.AgentVerifyCA, "-----BEGIN CERTIFICATE-----") || hb.Body.AgentVersion != Version {
		t.Errorf("heartbeat = version %s body %+v", hb.APIVersion, hb.Body)
	}
	if l := s.Lookups(); len(l) == 0 || l[0].APIVersion != "1.62" || l[0].Query.Get("addresses") != testMAC {
		t.Errorf("lookups = %+v", l)
	}
	c, err := s.Conductor(n.UUID)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	steps, err := c.GetSteps(ctx, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	if steps.HardwareManagerVersion["generic_hardware_manager"] != "1.2" {
		t.Errorf("hardware_manager_version = %v", steps.HardwareManagerVersion)
	}
	// IPA's generic deploy steps, all priority 0: the conductor's own
	// write_image (80) proxies the in-band one.
	for _, want := range []fakeironic.Step{
		{Interface: "deploy", Step: "write_image"},
		{Interface: "deploy", Step: "erase_devices_metadata"},
		{Interface: "raid", Step: "apply_configuration"},
		{Interface: "deploy", Step: "clean_uefi_nvram"},
	} {
		if got, ok := steps.Find(want.Interface, want.Step); !ok || got.Priority != 0 {
			t.Errorf("deploy step %s.%s = %+v, %v", want.Interface, want.Step, got, ok)
		}
	}
	if s, ok := steps.Find("deploy", "inject_files"); !ok || s.Priority != 0 || s.ArgsInfo["files"] == nil || s.ArgsInfo["verify_ca"] == nil {
		t.Errorf("deploy step inject_files = %+v, %v", s, ok)
	}
	if s, _ := steps.Find("raid", "apply_configuration"); s.ArgsInfo["raid_config"] == nil {
		t.Errorf("apply_configuration argsinfo = %v", s.ArgsInfo)
	}
	clean, err := c.GetSteps(ctx, "clean")
	if err != nil {
		t.Fatal(err)
	}
	for name, prio := range map[string]int{"erase_devices": 10, "erase_devices_metadata": 99, "erase_devices_express": 0, "erase_pstore": 0,
		"burnin_cpu": 0, "burnin_disk": 0, "burnin_memory": 0, "burnin_network": 0} {
		if got, ok := clean.Find("deploy", name); !ok || got.Priority != prio || !got.Abortable {
			t.Errorf("clean step %s = %+v, %v; want priority %d, abortable", name, got, ok, prio)
		}
	}
	for _, name := range []string{"create_configuration", "delete_configuration"} {
		if _, ok := clean.Find("raid", name); !ok {
			t.Errorf("clean step raid.%s missing", name)
		}
	}
	if s, ok := clean.Find("deploy", "clean_uefi_nvram"); !ok || s.ArgsInfo["match_patterns"] == nil {
		t.Errorf("clean step clean_uefi_nvram = %+v, %v", s, ok)
	}
	service, err := c.GetSteps(ctx, "service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][2]string{{"raid", "apply_configuration"}, {"raid", "delete_configuration"}, {"deploy", "write_image"},
		{"deploy", "inject_files"}, {"deploy", "burnin_cpu"}, {"deploy", "burnin_memory"}, {"deploy", "burnin_network"}} {
		if _, ok := service.Find(want[0], want[1]); !ok {
			t.Errorf("service step %s.%s missing", want[0], want[1])
		}
	}
	for _, name := range []string{"create_configuration", "delete_configuration"} {
		if got, ok := service.Find("raid", name); !ok || !got.Abortable {
			t.Errorf("service step raid.%s = %+v, %v; want abortable as in cleaning", name, got, ok)
		}
	}
	// burnin_disk would destroy the instance's data; IPA's GPU burn-in
	// needs a GPU stack the ramdisk lacks.
	for _, name := range []string{"burnin_disk", "burnin_gpu"} {
		if _, ok := service.Find("deploy", name); ok {
			t.Errorf("service step %s offered", name)
		}
	}
	if _, ok := clean.Find("deploy", "burnin_gpu"); ok {
		t.Error("clean step burnin_gpu offered without a GPU stack")
	}

	// A step that fails ends at once; the forced heartbeat tells the
	// conductor well before the regular 90–180 s heartbeat would.
	step := fakeironic.Step{Interface: "deploy", Step: "no_such_step"}
	if _, err := c.ExecuteStep(ctx, "deploy", step, steps.HardwareManagerVersion); err != nil {
		t.Fatal(err)
	}
	c.PollInterval = time.Hour
	begin := time.Now()
	_, err = c.WaitStep(ctx, "deploy", step)
	if !errors.Is(err, fakeironic.ErrStepFailed) {
		t.Fatalf("WaitStep = %v, want a failed step", err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("the conductor learnt of the failure after %v", d)
	}
}

// TestPythonVerifiesAutoCert: Python's ssl with strict X.509 checks (what
// the conductor uses) accepts the agent's certificate given the PEM from the
// heartbeat as its only CA.
func TestPythonVerifiesAutoCert(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	_, _, _, hb := agentUp(t, fakeironic.Options{})
	script := `
import json, ssl, sys, urllib.request
ctx = ssl.create_default_context(cadata=sys.stdin.read())
ctx.verify_flags |= ssl.VERIFY_X509_STRICT
with urllib.request.urlopen(sys.argv[1] + "/v1/status", context=ctx, timeout=10) as r:
    print(json.load(r)["version"])
`
	cmd := exec.Command("/usr/bin/python3", "-c", script, hb.Body.CallbackURL)
	cmd.Stdin = strings.NewReader(hb.Body.AgentVerifyCA)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != Version {
		t.Fatalf("python: %v: %s", err, out)
	}
}

// TestPlainHTTPBelow168: an Ironic that cannot take agent_verify_ca gets an
// http callback and no certificate, but still a token.
func TestPlainHTTPBelow168(t *testing.T) {
	_, _, r, hb := agentUp(t, fakeironic.Options{MaxVersion: "1.62"})
	if want := fmt.Sprintf("http://127.0.0.1:%d", r.port); hb.Body.CallbackURL != want || hb.Body.AgentVerifyCA != "" || hb.Body.AgentToken == "" {
		t.Errorf("heartbeat body = %+v", hb.Body)
	}
}

// TestTokenAlreadyHandedOut: a lookup answering "******" to an agent that
// has no token means another agent holds it: lock down, serve nothing.
func TestTokenAlreadyHandedOut(t *testing.T) {
	s := fakeironic.NewTest(t, fakeironic.Options{})
	newNode(t, s)
	c, err := ironic.New(ironic.Options{URLs: []string{s.URL()}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lookup(context.Background(), []string{testMAC}, ""); err != nil {
		t.Fatal(err)
	}
	r := start(t, s.URL())
	select {
	case <-r.lockedDown:
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not lock down")
	}
	if err := <-r.done; !errors.Is(err, ironic.ErrTokenLocked) {
		t.Errorf("Run = %v", err)
	}
	r.done <- nil // for Cleanup
	if _, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), time.Second); err == nil {
		t.Error("a locked-down agent serves its API")
	}
}

// TestInspectionThenLookupByUUID: with an inspection callback URL the agent
// posts its inventory first and looks up with the UUID the answer names.
func TestInspectionThenLookupByUUID(t *testing.T) {
	s := fakeironic.NewTest(t, fakeironic.Options{})
	n := newNode(t, s)
	got := make(chan map[string]any, 1)
	insp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		got <- m
		fmt.Fprintf(w, `{"uuid":%q}`, n.UUID)
	}))
	defer insp.Close()
	start(t, s.URL(), "--inspection-callback-url", insp.URL+"/v1/continue", "--inspection-collectors", "default,pci-devices")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var data map[string]any
	select {
	case data = <-got:
	case <-ctx.Done():
		t.Fatal("no inspection data")
	}
	if data["inventory"] == nil || data["pci_devices"] == nil {
		t.Errorf("inspection data keys: %v", data)
	}
	if _, err := s.WaitAgent(ctx, n.UUID); err != nil {
		t.Fatal(err)
	}
	if l := s.Lookups(); len(l) == 0 || l[0].Query.Get("node_uuid") != n.UUID {
		t.Errorf("lookup query = %v, want node_uuid=%s", l[0].Query, n.UUID)
	}
}

// TestApplyLookup: the image settings Ironic sends at lookup replace the
// agent's own, and a key an older Ironic does not send keeps the agent's;
// enable_bios_bootloader_install can only enable, as in IPA.
func TestApplyLookup(t *testing.T) {
	for _, tc := range []struct {
		name     string
		raw      string
		own      bool
		wantGrub bool
		wantMD5  bool
	}{
		{"old Ironic keeps the agent's settings", `{"heartbeat_timeout": 300}`, true, true, true},
		{"Ironic enables grub", `{"enable_bios_bootloader_install": true, "agent_md5_checksum_enable": false}`, false, true, false},
		{"Ironic's false keeps the agent's true", `{"enable_bios_bootloader_install": false}`, true, true, true},
		{"both false", `{"enable_bios_bootloader_install": false}`, false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c ironic.Config
			var m map[string]any
			if err := json.Unmarshal([]byte(tc.raw), &m); err != nil {
				t.Fatal(err)
			}
			c.Raw = json.RawMessage(tc.raw)
			c.EnableBIOSBootloaderInstall, _ = m["enable_bios_bootloader_install"].(bool)
			c.AgentMD5ChecksumEnable, _ = m["agent_md5_checksum_enable"].(bool)
			d := &image.Deployer{MD5Enabled: true}
			b := &image.Bootloader{}
			b.GrubInstall.Store(tc.own)
			applyLookup(d, b, c)
			if b.GrubInstall.Load() != tc.wantGrub || d.MD5Enabled != tc.wantMD5 {
				t.Errorf("grub install %v, md5 %v; want %v, %v", b.GrubInstall.Load(), d.MD5Enabled, tc.wantGrub, tc.wantMD5)
			}
		})
	}
}

// TestLockdown: system.lockdown is answered, then the agent locks down.
func TestLockdown(t *testing.T) {
	s, n, r, _ := agentUp(t, fakeironic.Options{})
	c, err := s.Conductor(n.UUID)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Agent.Run(ctx, "system.lockdown", nil, false)
	if err != nil || res.CommandStatus != "SUCCEEDED" {
		t.Fatalf("system.lockdown = %+v, %v", res, err)
	}
	select {
	case <-r.lockedDown:
	case <-ctx.Done():
		t.Fatal("agent did not lock down")
	}
}
