// Package ironiclab runs Debian's real Ironic (the all-in-one `ironic`
// process: API and conductor, sqlite, noauth, fake-hardware) on 127.0.0.1 for
// end-to-end tests, and talks to its REST API the way an operator would.
// Configuration follows shared/reference/real-ironic-notes.md.
package ironiclab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"
)

// Binary is Debian's all-in-one Ironic (on the host for 21.4, in the
// release's root for 35).
const Binary = "/usr/bin/ironic"

// APIVersion is what the lab's client asks for; 21.4 serves up to 1.82.
const APIVersion = "1.78"

// Release is the Ironic a lab runs.
type Release string

const (
	// Ironic21 is Debian 12's Ironic 21.4, installed on the host.
	Ironic21 Release = "ironic21"
	// Ironic35 is Debian forky's Ironic 35.0.1, run chrooted in the root
	// make deps-ironic35 builds (RootEnv names it).
	Ironic35 Release = "ironic35"
)

// Version is the release's version, for reports.
func (r Release) Version() string {
	if r == Ironic35 {
		return "35.0.1"
	}
	return "21.4"
}

// Releases are the Ironic releases every real-Ironic scenario runs against.
var Releases = []Release{Ironic21, Ironic35}

// RootEnv names the root file system holding Ironic 35; make test sets it.
const RootEnv = "GOIPA_IRONIC35_ROOT"

// Require skips the test when rel is not installed (a plain go test) and
// fails it when make test named a root that is missing. It returns the
// root Ironic runs in, "" for the host.
func Require(t testing.TB, rel Release) string {
	t.Helper()
	if rel == Ironic35 {
		root := os.Getenv(RootEnv)
		if root == "" {
			t.Skipf("%s unset: make deps-ironic35 builds the root ($CACHE/forky-root-HASH), make test sets it", RootEnv)
		}
		if _, err := os.Stat(filepath.Join(root, Binary)); err != nil {
			t.Fatalf("Ironic 35 root %s: %v (make deps-ironic35 builds it)", root, err)
		}
		return root
	}
	if _, err := os.Stat(Binary); err != nil {
		t.Skipf("real Ironic not installed (%s): run `make deps-ironic`", Binary)
	}
	return ""
}

// Options tune the Ironic configuration.
type Options struct {
	// Release is the Ironic to run (Ironic21 when empty).
	Release Release
	// ImageURL is [deploy]http_url, where images are served from.
	ImageURL string
	// RequireTLS sets [agent]require_tls.
	RequireTLS bool
	// HeartbeatTimeout is [api]ramdisk_heartbeat_timeout (default 30 s).
	HeartbeatTimeout int
	// EraseZeroize sets [deploy]shred_final_overwrite_with_zeros, so
	// erase_devices zeroes the disks (no random passes either way).
	EraseZeroize bool
	// Inspector enables in-band inspection: on 21.4 it also runs
	// ironic-inspector (InspectorBinary) and enables the inspector
	// inspect interface, and the test skips without it; 35 inspects by
	// itself (the agent inspect interface, /v1/continue_inspection).
	Inspector bool
	// BIOSBootloaderInstall is [agent]enable_bios_bootloader_install, which
	// Ironic sends at lookup (Debian's 21.4 defaults it to true; here it is
	// false unless set).
	BIOSBootloaderInstall bool
	// DefaultCleaning leaves cleaning as Ironic ships it: automated
	// cleaning on provide, erase_devices and erase_devices_metadata at the
	// agent's priorities (10 and 99), one random pass and a zero pass.
	// Otherwise the lab cleans only when asked (EraseZeroize applies).
	DefaultCleaning bool
	// NoPowerOffWait has Ironic power a deployed node off hard right after
	// asking the agent to (post_deploy_get_power_state_retries = 0): fake
	// power never reads "power off", so otherwise every deploy waits the
	// retries out (4 s) before active, whatever the agent.
	NoPowerOffWait bool
	// NetBoot, when set, has Ironic boot ramdisks itself through its ipxe
	// and pxe boot interfaces, as on a rack: it renders boot.ipxe, the
	// node's iPXE or PXELINUX configuration and the kernel line into
	// HTTPRoot and TFTPRoot. ImageURL is ignored then.
	NetBoot *NetBoot
}

// NetBoot is what Ironic needs to boot ramdisks over the network: the
// addresses of its services as the booting machine reaches them.
type NetBoot struct {
	// HTTPURL is [deploy]http_url: where the machine's iPXE fetches
	// boot.ipxe, the node's configuration, kernel and ramdisk (HTTPRoot).
	HTTPURL string
	// APIURL is the Ironic API the ramdisk is told to use (ipa-api-url),
	// Ironic's service catalog endpoint.
	APIURL string
	// InspectorURL is [inspector]callback_endpoint_override, the inspector
	// as the ramdisk reaches it (ipa-inspection-callback-url), with
	// Options.Inspector.
	InspectorURL string
	// TFTPServer is [pxe]tftp_server, the address PXELINUX and GRUB
	// configurations name.
	TFTPServer string
	// Proxy is the HTTP proxy the conductor's calls to agents go through
	// (http_proxy and https_proxy of its process; loopback is direct):
	// agents call back with their own network's address, which only the
	// proxy can map to the machine.
	Proxy string
}

// Lab is a running Ironic.
type Lab struct {
	URL     string // http://127.0.0.1:PORT
	Dir     string
	Release Release
	// InspectorURL is ironic-inspector's API when Options.Inspector is set
	// on 21.4.
	InspectorURL string
	// InspectInterface is the node inspect interface for in-band
	// inspection: inspector on 21.4, agent on 35.
	InspectInterface string
	// HTTPRoot and TFTPRoot are Ironic's [deploy]http_root and
	// [pxe]tftp_root, which the machines' boot servers serve.
	HTTPRoot, TFTPRoot string
	http               *http.Client
	t                  testing.TB
}

// Start runs Ironic for the test; it skips the test when Ironic is not
// installed (make test installs it).
func Start(t testing.TB, opts Options) *Lab {
	t.Helper()
	if opts.Release == "" {
		opts.Release = Ironic21
	}
	root := Require(t, opts.Release)
	inspector := opts.Inspector && opts.Release == Ironic21
	if _, err := os.Stat(InspectorBinary); err != nil && inspector {
		t.Skipf("ironic-inspector not installed (%s): run `make deps-ironic`", InspectorBinary)
	}
	if opts.HeartbeatTimeout == 0 {
		opts.HeartbeatTimeout = 30
	}
	if opts.ImageURL == "" {
		opts.ImageURL = "http://127.0.0.1:1"
	}
	dir := t.TempDir()
	for _, d := range []string{"logs", "db", "locks", "tftpboot", "httpboot", "tmp", "deploy-logs", "certs", "images/pxe", "images/master"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	port, inspectorPort := freePort(t), 0
	if inspector {
		inspectorPort = freePort(t)
	}
	lab := &Lab{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Dir: dir, Release: opts.Release,
		http: &http.Client{Timeout: 30 * time.Second}, t: t,
		HTTPRoot: filepath.Join(dir, "httpboot"), TFTPRoot: filepath.Join(dir, "tftpboot")}
	switch {
	case inspector:
		lab.InspectInterface = "inspector"
	case opts.Inspector:
		lab.InspectInterface = "agent"
	}
	var env []string
	if nb := opts.NetBoot; nb != nil && nb.Proxy != "" {
		env = []string{"http_proxy=" + nb.Proxy, "https_proxy=" + nb.Proxy, "no_proxy=127.0.0.1,localhost,::1"}
	}
	service{name: "ironic", conf: confTemplate, data: map[string]any{"Dir": dir, "Port": port, "Opts": opts,
		"Inspector": inspector, "InspectorPort": inspectorPort, "Ironic35": opts.Release == Ironic35},
		dbsync: []string{"/usr/bin/ironic-dbsync", "create_schema"}, binary: Binary, url: lab.URL, dumpLog: lab.dumpLog,
		env: env, root: root}.run(t, dir)
	if inspector {
		lab.startInspector(t, inspectorPort)
	}
	return lab
}

func (l *Lab) dumpLog() {
	b, _ := os.ReadFile(filepath.Join(l.Dir, "logs", "ironic.log"))
	lines := strings.Split(string(b), "\n")
	var keep []string
	for _, ln := range lines {
		if strings.Contains(ln, " ERROR ") || strings.Contains(ln, " WARNING ") || strings.Contains(ln, "ironic.drivers.modules.agent") || strings.Contains(ln, "ironic.conductor.deployments") || strings.Contains(ln, "ironic.conductor.cleaning") {
			keep = append(keep, ln)
		}
	}
	if len(keep) > 300 {
		keep = keep[len(keep)-300:]
	}
	l.t.Logf("ironic.log (filtered):\n%s", strings.Join(keep, "\n"))
}

// Log returns Ironic's log file.
func (l *Lab) Log() string {
	b, _ := os.ReadFile(filepath.Join(l.Dir, "logs", "ironic.log"))
	return string(b)
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Inventory decodes the node's stored inspection data (GET
// /v1/nodes/{id}/inventory, API 1.81) into out.
func (l *Lab) Inventory(ctx context.Context, uuid string, out any) error {
	return l.do(ctx, l.URL, "1.81", "GET", "/v1/nodes/"+uuid+"/inventory", nil, out)
}

// Do calls the Ironic API and decodes a JSON answer into out (if not nil).
func (l *Lab) Do(ctx context.Context, method, path string, body, out any) error {
	err := l.do(ctx, l.URL, APIVersion, method, path, body, out)
	if err == nil && l.Release == Ironic35 && method == "PATCH" && strings.HasPrefix(path, "/v1/nodes/") {
		return l.clearParentNode(ctx)
	}
	return err
}

// clearParentNode works around Debian's 1:35.0.1-10, whose every node PATCH
// makes the node its own parent_node, after which the next power off fails
// with ChildNodeLocked; the API cannot unset it, so the database is fixed.
func (l *Lab) clearParentNode(ctx context.Context) error {
	const fix = `import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
db.execute("UPDATE nodes SET parent_node = NULL WHERE parent_node = uuid")
db.commit()`
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", fix, filepath.Join(l.Dir, "db", "ironic.sqlite")).CombinedOutput()
	if err != nil {
		return fmt.Errorf("clearing parent_node: %v: %s", err, out)
	}
	return nil
}

func (l *Lab) do(ctx context.Context, base, version, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if version != "" {
		req.Header.Set("X-OpenStack-Ironic-API-Version", version)
	}
	resp, err := l.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Node is the part of Ironic's node record the tests read.
type Node struct {
	UUID               string         `json:"uuid"`
	Name               string         `json:"name"`
	ProvisionState     string         `json:"provision_state"`
	TargetProvision    *string        `json:"target_provision_state"`
	LastError          *string        `json:"last_error"`
	PowerState         *string        `json:"power_state"`
	DriverInternalInfo map[string]any `json:"driver_internal_info"`
	InstanceInfo       map[string]any `json:"instance_info"`
	RAIDConfig         map[string]any `json:"raid_config"`
}

// NodeSpec describes a node to enroll.
type NodeSpec struct {
	Name       string
	MAC        string
	BootMode   string // bios (default) or uefi
	RootDevice map[string]any
	DriverInfo map[string]any
	// InspectInterface defaults to Ironic's default (no-inspect).
	InspectInterface string
	// BootInterface defaults to fake, which boots nothing; ipxe and pxe
	// need Options.NetBoot and deploy_kernel/deploy_ramdisk in DriverInfo.
	BootInterface string
	// Manageable stops enrolling at manageable: with automated cleaning,
	// provide boots the ramdisk, which the test's BMC must do.
	Manageable bool
}

// Enroll creates a fake-hardware node with one port and brings it to
// available (manage, power off, provide).
func (l *Lab) Enroll(ctx context.Context, spec NodeSpec) (*Node, error) {
	if spec.BootMode == "" {
		spec.BootMode = "bios"
	}
	props := map[string]any{"cpus": 1, "memory_mb": 1024, "local_gb": 8, "cpu_arch": "x86_64",
		"capabilities": "boot_mode:" + spec.BootMode}
	if spec.RootDevice != nil {
		props["root_device"] = spec.RootDevice
	}
	body := map[string]any{"name": spec.Name, "driver": "fake-hardware",
		"deploy_interface": "direct", "boot_interface": "fake", "power_interface": "fake",
		"management_interface": "noop", "network_interface": "noop", "raid_interface": "agent",
		"properties": props, "driver_info": spec.DriverInfo}
	if spec.InspectInterface != "" {
		body["inspect_interface"] = spec.InspectInterface
	}
	if spec.BootInterface != "" {
		body["boot_interface"] = spec.BootInterface
	}
	var n Node
	if err := l.Do(ctx, "POST", "/v1/nodes", body, &n); err != nil {
		return nil, err
	}
	if err := l.Do(ctx, "POST", "/v1/ports", map[string]any{"address": spec.MAC, "node_uuid": n.UUID}, nil); err != nil {
		return nil, err
	}
	if err := l.Provision(ctx, n.UUID, map[string]any{"target": "manage"}, "manageable"); err != nil {
		return nil, err
	}
	if err := l.Do(ctx, "PUT", "/v1/nodes/"+n.UUID+"/states/power", map[string]any{"target": "power off"}, nil); err != nil {
		return nil, err
	}
	if spec.Manageable {
		return l.Node(ctx, n.UUID)
	}
	if err := l.Provision(ctx, n.UUID, map[string]any{"target": "provide"}, "available"); err != nil {
		return nil, err
	}
	return l.Node(ctx, n.UUID)
}

// Node fetches a node.
func (l *Lab) Node(ctx context.Context, id string) (*Node, error) {
	var n Node
	return &n, l.Do(ctx, "GET", "/v1/nodes/"+id, nil, &n)
}

// SetInstanceInfo replaces instance_info.
func (l *Lab) SetInstanceInfo(ctx context.Context, id string, info map[string]any) error {
	return l.Do(ctx, "PATCH", "/v1/nodes/"+id, []map[string]any{{"op": "add", "path": "/instance_info", "value": info}}, nil)
}

// Provision requests a provision state change and, when want is not empty,
// waits for the node to reach it.
func (l *Lab) Provision(ctx context.Context, id string, req map[string]any, want ...string) error {
	if err := l.Do(ctx, "PUT", "/v1/nodes/"+id+"/states/provision", req, nil); err != nil {
		return err
	}
	if len(want) == 0 {
		return nil
	}
	_, err := l.WaitState(ctx, id, want...)
	return err
}

// WaitState polls until the node is in one of states, or fails fast when it
// lands in a failure state not asked for.
func (l *Lab) WaitState(ctx context.Context, id string, states ...string) (*Node, error) {
	for {
		n, err := l.Node(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, s := range states {
			if n.ProvisionState == s {
				return n, nil
			}
		}
		if strings.HasSuffix(n.ProvisionState, "failed") || n.ProvisionState == "error" {
			le := ""
			if n.LastError != nil {
				le = *n.LastError
			}
			return n, fmt.Errorf("node %s is %q, waiting for %v: %s", id, n.ProvisionState, states, le)
		}
		select {
		case <-ctx.Done():
			return n, fmt.Errorf("node %s still %q, waiting for %v: %w", id, n.ProvisionState, states, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

var confTemplate = template.Must(template.New("ironic.conf").Parse(`[DEFAULT]
host = goipa-lab
debug = true
log_dir = {{.Dir}}/logs
log_file = ironic.log
use_stderr = false
auth_strategy = noauth
rpc_transport = none
enabled_hardware_types = fake-hardware
enabled_deploy_interfaces = direct,fake
enabled_boot_interfaces = fake{{if .Opts.NetBoot}},ipxe,pxe{{end}}
enabled_power_interfaces = fake
enabled_management_interfaces = fake,noop
enabled_network_interfaces = noop
enabled_console_interfaces = no-console,fake
enabled_inspect_interfaces = no-inspect,fake{{if .Inspector}},inspector{{end}}{{if .Ironic35}},agent{{end}}
enabled_raid_interfaces = no-raid,fake,agent
enabled_rescue_interfaces = no-rescue,fake,agent
enabled_storage_interfaces = noop
enabled_vendor_interfaces = no-vendor,fake
enabled_bios_interfaces = no-bios,fake
default_deploy_interface = direct
default_boot_interface = fake
default_network_interface = noop
minimum_memory_warning_only = true
minimum_required_memory = 128
force_raw_images = false
tempdir = {{.Dir}}/tmp

[api]
host_ip = 127.0.0.1
port = {{.Port}}
ramdisk_heartbeat_timeout = {{.Opts.HeartbeatTimeout}}
restrict_lookup = true

[conductor]
automated_clean = {{.Opts.DefaultCleaning}}
deploy_callback_timeout = 900
clean_callback_timeout = 900
heartbeat_timeout = 60
sync_power_state_interval = -1
check_provision_state_interval = 10
periodic_max_workers = 2
workers_pool_size = 50
permitted_image_formats = raw,qcow2,iso

[deploy]
http_url = {{if .Opts.NetBoot}}{{.Opts.NetBoot.HTTPURL}}{{else}}{{.Opts.ImageURL}}{{end}}
http_root = {{.Dir}}/httpboot
default_boot_mode = bios
fast_track = false
{{if not .Opts.DefaultCleaning}}erase_devices_priority = 0
erase_devices_metadata_priority = 0
shred_random_overwrite_iterations = 0
shred_final_overwrite_with_zeros = {{.Opts.EraseZeroize}}
{{end}}

[agent]
image_download_source = http
stream_raw_images = true
deploy_logs_collect = on_failure
deploy_logs_storage_backend = local
deploy_logs_local_path = {{.Dir}}/deploy-logs
post_deploy_get_power_state_retries = {{if .Opts.NoPowerOffWait}}0{{else}}2{{end}}
post_deploy_get_power_state_retry_interval = 2
command_timeout = 60
require_tls = {{.Opts.RequireTLS}}
enable_bios_bootloader_install = {{.Opts.BIOSBootloaderInstall}}
certificates_path = {{.Dir}}/certs

[dhcp]
dhcp_provider = none

[database]
connection = sqlite:///{{.Dir}}/db/ironic.sqlite

[oslo_concurrency]
lock_path = {{.Dir}}/locks

[pxe]
tftp_root = {{.Dir}}/tftpboot
tftp_master_path = {{.Dir}}/tftpboot/master_images
{{if .Opts.NetBoot}}tftp_server = {{.Opts.NetBoot.TFTPServer}}
{{end}}images_path = {{.Dir}}/images/pxe
instance_master_path = {{.Dir}}/images/master

{{if .Inspector}}[inspector]
auth_type = none
endpoint_override = http://127.0.0.1:{{.InspectorPort}}
{{if .Opts.NetBoot}}callback_endpoint_override = {{.Opts.NetBoot.InspectorURL}}
{{end}}status_check_period = 2
power_off = false

{{end}}{{if .Ironic35}}[inspector]
require_managed_boot = false
power_off = false
# What ironic-inspector's scheduler and root disk hooks set on 21.4, and
# Metal3's extra-hardware and parse-lldp.
hooks = $default_hooks,memory,cpus,root-device,extra-hardware,parse-lldp
extra_hardware_strict = true

[auto_discovery]
enabled = false

{{end}}[service_catalog]
auth_type = none
endpoint_override = {{if .Opts.NetBoot}}{{.Opts.NetBoot.APIURL}}{{else}}http://127.0.0.1:{{.Port}}{{end}}
`))
