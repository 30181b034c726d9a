package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// env is a kernel command line and config files in a temporary directory.
type env struct {
	cmdline string
	files   map[string]string // path relative to the temp dir → contents
	dirs    []string          // default config dirs, relative; nil = "etc"
	init    bool              // load as the ramdisk's /init (Sources.Init)
	params  string            // Sources.Params (a virtual media parameters.txt)
}

func (e env) load(t *testing.T, args ...string) (*Config, string, error) {
	t.Helper()
	root := t.TempDir()
	write(t, filepath.Join(root, "cmdline"), e.cmdline)
	for name, body := range e.files {
		write(t, filepath.Join(root, name), body)
	}
	dirs := e.dirs
	if dirs == nil {
		dirs = []string{"etc"}
	}
	src := Sources{Cmdline: filepath.Join(root, "cmdline"), Output: &bytes.Buffer{}, Init: e.init, Params: e.params}
	for _, d := range dirs {
		src.ConfigDirs = append(src.ConfigDirs, filepath.Join(root, d))
	}
	for i, a := range args { // "@x" names a path in the temp dir
		args[i] = strings.ReplaceAll(a, "@", root+"/")
	}
	c, err := LoadWith(args, src)
	return c, src.Output.(*bytes.Buffer).String(), err
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustLoad(t *testing.T, e env, args ...string) *Config {
	t.Helper()
	c, _, err := e.load(t, args...)
	if err != nil {
		t.Fatalf("LoadWith: %v", err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	c := mustLoad(t, env{cmdline: "console=ttyS0 quiet\n"})
	want := Config{
		ListenHost: "::", ListenPort: 9999, AdvertisePort: 9999, AdvertiseProtocol: "http",
		LookupTimeout: 600 * time.Second, LookupInterval: time.Second,
		IPLookupAttempts: 6, IPLookupSleep: 10 * time.Second,
		HTTPRequestTimeout: 30 * time.Second,
		EnableAutoTLS:      true, AutoTLSAllowedClockSkew: time.Hour,
		TLSMinVersion: "1.2", TLSCertificateCurve: "p384",
		InspectionDHCPWaitTimeout: time.Minute, LLDPTimeout: 30 * time.Second,
		DiskWaitAttempts: 10, DiskWaitDelay: 3 * time.Second,
		GuardSpecialFilesystems:        true,
		ImageDownloadConnectionTimeout: time.Minute, ImageDownloadConnectionRetries: 9,
		ImageDownloadConnectionRetryInterval: 10 * time.Second,
		ImageServerAuthStrategy:              "noauth",
		MD5Enabled:                           true,
		PermittedImageFormats:                []string{"raw", "gpt", "qcow2"},
		DiskUtils: DiskUtils{
			EFISystemPartitionSizeMiB: 550, BIOSBootPartitionSizeMiB: 1, DDBlockSize: "1M",
			PartitionDetectionAttempts: 3, PartprobeAttempts: 10,
			ImageConvertMemoryLimitMiB: 2048, ImageConvertAttempts: 3,
		},
		Cmdline: map[string]string{"console": "ttyS0"},
	}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", *c, want)
	}
	if got := c.Collectors(); !slices.Equal(got, []string{"default", "logs"}) {
		t.Errorf("Collectors() = %q, want default,logs", got)
	}
}

func TestKernelCmdline(t *testing.T) {
	c := mustLoad(t, env{cmdline: `BOOT_IMAGE=/vmlinuz ro ipa-api-url=http://10.0.0.1:6385,https://[fd00::1]:6385 ` +
		`ipa-lookup-timeout=0.5 ipa-lookup-interval=1m30s ipa-listen-port=8080 ipa-debug=Yes ` +
		`ipa-insecure=ON ipa-guard-special-filesystems=off ipa-inspection-collectors=default,,lldp ` +
		`ipa-ip-lookup-timeout=2 ipa-ironic-api-version=1.68 ` +
		`ipa-global-request-id="req-1 2" goipa.net=static ipa-listen-port=9000 ipa-unknown=x` + "\n"})
	checks := []struct {
		name      string
		got, want any
	}{
		{"APIURL", c.APIURL, []string{"http://10.0.0.1:6385", "https://[fd00::1]:6385"}},
		{"LookupTimeout", c.LookupTimeout, 500 * time.Millisecond},
		{"LookupInterval", c.LookupInterval, 90 * time.Second},
		{"ListenPort (repeated key, last wins)", c.ListenPort, 9000},
		{"Debug", c.Debug, true},
		{"Insecure", c.Insecure, true},
		{"GuardSpecialFilesystems", c.GuardSpecialFilesystems, false},
		{"InspectionCollectors", c.InspectionCollectors, []string{"default", "lldp"}},
		{"IPLookupSleep", c.IPLookupSleep, 2 * time.Second},
		{"IronicAPIVersion", c.IronicAPIVersion, "1.68"},
		{"GlobalRequestID (quoted)", c.GlobalRequestID, "req-1 2"},
		{"Cmdline[goipa.net]", c.Cmdline["goipa.net"], "static"},
		{"Cmdline[ipa-unknown]", c.Cmdline["ipa-unknown"], "x"},
		{"Cmdline[BOOT_IMAGE]", c.Cmdline["BOOT_IMAGE"], "/vmlinuz"},
		{"Cmdline has no bare word", len(c.Cmdline), 14},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
}

func TestParseCmdline(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want map[string]string
	}{
		{"", map[string]string{}},
		{"a=1 b=2\n", map[string]string{"a": "1", "b": "2"}},
		{"  a=1\t\tquiet  b= \n", map[string]string{"a": "1", "b": ""}},
		{`k="a b" z=1`, map[string]string{"k": "a b", "z": "1"}},
		{`"k=a b" z=1`, map[string]string{"k": "a b", "z": "1"}},
		{`k="a  b`, map[string]string{"k": "a  b"}}, // unterminated: to the end
		{`k=a=b`, map[string]string{"k": "a=b"}},
		{`k=1 k=2 k=3`, map[string]string{"k": "3"}},
		{`=x "" noval`, map[string]string{}},
		// parameters.txt from virtual media: one per line.
		{"ipa-api-url=http://x\nBOOTIF=01-aa-bb-cc-dd-ee-ff\n", map[string]string{"ipa-api-url": "http://x", "BOOTIF": "01-aa-bb-cc-dd-ee-ff"}},
	} {
		if got := ParseCmdline(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseCmdline(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestVirtualMediaParams: a floppy's parameters.txt (Ironic's
// create_vfat_image writes one key=value a line) wins over the kernel
// command line, which wins over the config files, as in IPA's
// get_agent_params.
func TestVirtualMediaParams(t *testing.T) {
	tests := []struct {
		name, cmdline, params string
		apiURL                []string
		bootIF                string
	}{
		{"no floppy", "ipa-api-url=http://kernel:6385 boot_method=vmedia", "", []string{"http://kernel:6385"}, ""},
		{"floppy overrides", "ipa-api-url=http://kernel:6385 boot_method=vmedia",
			"ipa-api-url=https://floppy:6385\nBOOTIF=52:54:00:12:34:57\nboot_method=vmedia", []string{"https://floppy:6385"}, "52:54:00:12:34:57"},
		{"floppy adds", "boot_method=vmedia", "ipa-api-url=https://floppy:6385", []string{"https://floppy:6385"}, ""},
		{"config file below both", "boot_method=vmedia", "", []string{"http://file:6385"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, env{cmdline: tt.cmdline, params: tt.params,
				files: map[string]string{"etc/a.conf": "[DEFAULT]\napi_url = http://file:6385\n"}})
			if !reflect.DeepEqual(c.APIURL, tt.apiURL) || c.BootIF != tt.bootIF {
				t.Errorf("api_url %q BOOTIF %q, want %q %q", c.APIURL, c.BootIF, tt.apiURL, tt.bootIF)
			}
			if c.Cmdline["boot_method"] != "vmedia" {
				t.Errorf("Cmdline lost boot_method: %v", c.Cmdline)
			}
		})
	}
}

func TestBootIF(t *testing.T) {
	for _, tt := range []struct {
		raw, want, err string
	}{
		{raw: "01-AA-bb-cc-dd-ee-0F", want: "aa:bb:cc:dd:ee:0f"},
		{raw: "aa:bb:cc:dd:ee:ff", want: "aa:bb:cc:dd:ee:ff"},
		{raw: "AA-BB-CC-DD-EE-FF", want: "aa:bb:cc:dd:ee:ff"},
		{raw: "20-aa-bb-cc-dd-ee-ff", err: `kernel command line: BOOTIF: invalid value "20-aa-bb-cc-dd-ee-ff": hardware type "20" is not Ethernet (01)`},
		{raw: "01-aa-bb-cc", err: `kernel command line: BOOTIF: invalid value "01-aa-bb-cc": want "01-aa-bb-cc-dd-ee-ff" or "aa:bb:cc:dd:ee:ff"`},
		{raw: "zz:bb:cc:dd:ee:ff", err: `invalid value "zz:bb:cc:dd:ee:ff"`},
		{raw: "", err: `BOOTIF: invalid value ""`},
		{raw: "00:00:5e:00:53:01:02:03", err: `invalid value "00:00:5e:00:53:01:02:03"`}, // EUI-64
	} {
		c, _, err := env{cmdline: "BOOTIF=" + tt.raw}.load(t)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrInvalidValue) {
				t.Errorf("BOOTIF=%s: err = %v, want %q", tt.raw, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("BOOTIF=%s: %v", tt.raw, err)
		}
		if c.BootIF != tt.want || c.BootIFRaw != tt.raw {
			t.Errorf("BOOTIF=%s: BootIF %q BootIFRaw %q, want %q %q", tt.raw, c.BootIF, c.BootIFRaw, tt.want, tt.raw)
		}
	}
	if c := mustLoad(t, env{}); c.BootIF != "" || c.BootIFRaw != "" {
		t.Errorf("no BOOTIF: got %q %q", c.BootIF, c.BootIFRaw)
	}
}

func TestConfigFile(t *testing.T) {
	c := mustLoad(t, env{files: map[string]string{"etc/ipa.conf": `
# metal3 style
; another comment
[DEFAULT]
api_url = https://ironic.example:6385
cafile=/etc/ironic-python-agent/ironic.crt
enable_auto_tls = False
listen-port: 9443
auto_tls_allowed_clock_skew = 120
permitted_image_formats = raw,
   qcow2
inspection_callback_url = "mdns"
md5_enabled = 'no'
no_such_option = 1
log_file = /var/log/ipa.log

[disk_utils]
efi_system_partition_size = 1024
dd_block_size = 4M


[container]
runner = docker
api_url = http://ignored-section
`}})
	checks := []struct {
		name      string
		got, want any
	}{
		{"APIURL", c.APIURL, []string{"https://ironic.example:6385"}},
		{"CAFile", c.CAFile, "/etc/ironic-python-agent/ironic.crt"},
		{"EnableAutoTLS", c.EnableAutoTLS, false},
		{"ListenPort (dashed key, colon)", c.ListenPort, 9443},
		{"AutoTLSAllowedClockSkew", c.AutoTLSAllowedClockSkew, 2 * time.Minute},
		{"PermittedImageFormats (continuation)", c.PermittedImageFormats, []string{"raw", "qcow2"}},
		{"InspectionCallbackURL (quoted)", c.InspectionCallbackURL, []string{"mdns"}},
		{"MD5Enabled", c.MD5Enabled, false},
		{"DiskUtils.EFISystemPartitionSizeMiB", c.DiskUtils.EFISystemPartitionSizeMiB, 1024},
		{"DiskUtils.DDBlockSize", c.DiskUtils.DDBlockSize, "4M"},
		{"Files", len(c.Files), 1},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
}

func TestDefaultConfigDirs(t *testing.T) {
	e := env{
		dirs: []string{"missing", "etc/ironic-python-agent", "etc/ironic-python-agent.d"},
		files: map[string]string{
			"etc/ironic-python-agent/b.conf":   "[DEFAULT]\nlookup_timeout = 2\nntp_server = b\n",
			"etc/ironic-python-agent/a.conf":   "[DEFAULT]\nlookup_timeout = 1\nntp_server = a\ncafile = a\n",
			"etc/ironic-python-agent/c.txt":    "[DEFAULT]\nntp_server = not-a-conf-file\n",
			"etc/ironic-python-agent.d/0.conf": "[DEFAULT]\nlookup_timeout = 3\n",
		},
	}
	c := mustLoad(t, e)
	if c.LookupTimeout != 3*time.Second || c.NTPServer != "b" || c.CAFile != "a" {
		t.Errorf("LookupTimeout %v NTPServer %q CAFile %q, want 3s b a", c.LookupTimeout, c.NTPServer, c.CAFile)
	}
	var rel []string
	for _, f := range c.Files {
		rel = append(rel, filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f))
	}
	want := []string{"ironic-python-agent/a.conf", "ironic-python-agent/b.conf", "ironic-python-agent.d/0.conf"}
	if !slices.Equal(rel, want) {
		t.Errorf("Files = %q, want %q", rel, want)
	}
}

func TestExplicitConfigSources(t *testing.T) {
	e := env{files: map[string]string{
		"etc/default.conf": "[DEFAULT]\nntp_server = default-search\n",
		"one.conf":         "[DEFAULT]\nntp_server = one\nlookup_timeout = 1\n",
		"d/2.conf":         "[DEFAULT]\nntp_server = d2\nlookup_timeout = 2\n",
		"d/1.conf":         "[DEFAULT]\nntp_server = d1\ncafile = d1\n",
		"last.conf":        "[DEFAULT]\nlookup_timeout = 9\n",
	}}
	c := mustLoad(t, e, "--config-file", "@one.conf", "--config-dir=@d", "-config-file", "@last.conf")
	if c.NTPServer != "d2" || c.CAFile != "d1" || c.LookupTimeout != 9*time.Second {
		t.Errorf("NTPServer %q CAFile %q LookupTimeout %v, want d2 d1 9s", c.NTPServer, c.CAFile, c.LookupTimeout)
	}
	if len(c.Files) != 4 || !strings.HasSuffix(c.Files[1], "/d/1.conf") {
		t.Errorf("Files = %q, want one, d/1, d/2, last", c.Files)
	}

	for _, args := range [][]string{{"--config-file", "@nope.conf"}, {"--config-dir", "@nodir"}} {
		if _, _, err := e.load(t, args...); err == nil || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%q: err = %v, want not exist", args, err)
		}
	}
}

func TestPrecedence(t *testing.T) {
	file := map[string]string{"etc/a.conf": "[DEFAULT]\nlookup_timeout = 10\nlisten_port = 1000\nntp_server = file\ninsecure = true\n"}
	kernel := "ipa-lookup-timeout=20 ipa-listen-port=2000 ipa-insecure=false"
	for _, tt := range []struct {
		name    string
		e       env
		args    []string
		timeout time.Duration
		port    int
		ntp     string
		insec   bool
	}{
		{"defaults", env{}, nil, 600 * time.Second, 9999, "", false},
		{"file beats default", env{files: file}, nil, 10 * time.Second, 1000, "file", true},
		{"kernel beats file", env{files: file, cmdline: kernel}, nil, 20 * time.Second, 2000, "file", false},
		{"flag beats kernel", env{files: file, cmdline: kernel}, []string{"--lookup-timeout=30", "--insecure"}, 30 * time.Second, 2000, "file", true},
		{"flag beats file", env{files: file}, []string{"--ntp-server", "flag", "--insecure=false"}, 10 * time.Second, 1000, "flag", false},
		{"flag repeated", env{}, []string{"--listen-port=1", "--listen-port=2"}, 600 * time.Second, 2, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.e, tt.args...)
			if c.LookupTimeout != tt.timeout || c.ListenPort != tt.port || c.NTPServer != tt.ntp || c.Insecure != tt.insec {
				t.Errorf("got timeout %v port %d ntp %q insecure %v, want %v %d %q %v",
					c.LookupTimeout, c.ListenPort, c.NTPServer, c.Insecure, tt.timeout, tt.port, tt.ntp, tt.insec)
			}
		})
	}
}

func TestCmdlineFileFlag(t *testing.T) {
	e := env{cmdline: "ipa-ntp-server=proc", files: map[string]string{"other": "ipa-ntp-server=other"}}
	if c := mustLoad(t, e, "--cmdline-file", "@other"); c.NTPServer != "other" {
		t.Errorf("NTPServer = %q, want other", c.NTPServer)
	}
	if _, _, err := e.load(t, "--cmdline-file", "@missing"); err == nil || !strings.HasPrefix(err.Error(), "kernel command line: ") {
		t.Errorf("missing cmdline file: err = %v", err)
	}
}

func TestBadValues(t *testing.T) {
	for _, tt := range []struct {
		cmdline, file string
		args          []string
		want          string
	}{
		// One per kind and check, from the kernel command line.
		{cmdline: "ipa-lookup-timeout=abc", want: `kernel command line: ipa-lookup-timeout: invalid value "abc": want a number of seconds`},
		{cmdline: "ipa-lookup-timeout=-1", want: `kernel command line: ipa-lookup-timeout: invalid value "-1": must be at least 0 seconds`},
		{cmdline: "ipa-http-request-timeout=0", want: `kernel command line: ipa-http-request-timeout: invalid value "0": must be at least 1 seconds`},
		{cmdline: "ipa-disk-wait-attempts=1.5", want: `kernel command line: ipa-disk-wait-attempts: invalid value "1.5": want an integer`},
		{cmdline: "ipa-disk-wait-attempts=-3", want: `kernel command line: ipa-disk-wait-attempts: invalid value "-3": must be at least 0`},
		{cmdline: "ipa-ip-lookup-attempts=0", want: `kernel command line: ipa-ip-lookup-attempts: invalid value "0": must be at least 1`},
		{cmdline: "ipa-listen-port=0", want: `kernel command line: ipa-listen-port: invalid value "0": must be between 1 and 65535`},
		{cmdline: "ipa-advertise-port=65536", want: `kernel command line: ipa-advertise-port: invalid value "65536": must be between 1 and 65535`},
		{cmdline: "ipa-inject-files-priority=100", want: `invalid value "100": must be between 0 and 99`},
		{cmdline: "ipa-insecure=maybe", want: `kernel command line: ipa-insecure: invalid value "maybe": want true/false, yes/no, on/off or 1/0`},
		{cmdline: "ipa-debug=", want: `kernel command line: ipa-debug: invalid value ""`},
		{cmdline: "ipa-advertise-protocol=ftp", want: `kernel command line: ipa-advertise-protocol: invalid value "ftp": must be one of http, https`},
		{cmdline: "ipa-tls-min-version=1.1", want: `ipa-tls-min-version: invalid value "1.1": must be one of 1.2, 1.3`},
		{cmdline: "ipa-tls-certificate-curve=p224", want: `ipa-tls-certificate-curve: invalid value "p224": must be one of p256, p384, p521`},
		{cmdline: "ipa-api-url=10.0.0.1:6385", want: `kernel command line: ipa-api-url: invalid value "10.0.0.1:6385": want http:// or https:// URLs or "mdns"`},
		{cmdline: "ipa-api-url=http://ok,ftp://bad", want: `ipa-api-url: invalid value "http://ok,ftp://bad"`},
		{cmdline: "ipa-api-url=https://", want: `ipa-api-url: invalid value "https://"`},
		{cmdline: "ipa-inspection-callback-url=MDNS", want: `ipa-inspection-callback-url: invalid value "MDNS"`},
		{cmdline: "ipa-ironic-api-version=latest", want: `ipa-ironic-api-version: invalid value "latest": want a version like "1.68"`},
		// Config files name the file, line and key.
		{file: "[DEFAULT]\n\nlisten_port = http\n", want: `/etc/a.conf line 3: listen_port: invalid value "http": want an integer`},
		{file: "[disk_utils]\nimage_convert_attempts = 0\n", want: `line 2: [disk_utils] image_convert_attempts: invalid value "0": must be at least 1`},
		{file: "[DEFAULT]\nimage_server_auth_strategy = basic\n", want: `image_server_auth_strategy: invalid value "basic": must be one of noauth, http_basic`},
		{file: "[DEFAULT]\nenable_auto_tls = enabled\n", want: `enable_auto_tls: invalid value "enabled"`},
		{file: "[DEFAULT]\njust a line\n", want: `/etc/a.conf: line 2: syntax error: no '=' or ':' in "just a line"`},
		{file: "api_url = http://x\n", want: `line 1: syntax error: "api_url" before any [section]`},
		{file: "  indented = 1\n", want: `line 1: syntax error: unexpected continuation line`},
		{file: "[DEFAULT\n", want: `line 1: syntax error: bad section header`},
		{file: "[DEFAULT]\n= 1\n", want: `line 2: syntax error: empty key`},
		// Flags.
		{args: []string{"--lookup-timeout", "abc"}, want: `command line: invalid value "abc" for flag -lookup-timeout: want a number of seconds`},
		{args: []string{"--enable-auto-tls=sometimes"}, want: `command line: invalid boolean value "sometimes" for -enable-auto-tls`},
		{args: []string{"--listen-port=99999"}, want: `for flag -listen-port: must be between 1 and 65535`},
		{args: []string{"--no-such-flag"}, want: `command line: flag provided but not defined: -no-such-flag`},
		{args: []string{"serve"}, want: `command line: unexpected argument "serve"`},
	} {
		e := env{cmdline: tt.cmdline}
		if tt.file != "" {
			e.files = map[string]string{"etc/a.conf": tt.file}
		}
		_, _, err := e.load(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("cmdline %q file %q args %q: err = %v, want %q", tt.cmdline, tt.file, tt.args, err, tt.want)
		}
	}
}

func TestHelp(t *testing.T) {
	c, out, err := env{}.load(t, "-h")
	if !errors.Is(err, flag.ErrHelp) || c != nil {
		t.Fatalf("-h: %v, %v; want flag.ErrHelp", c, err)
	}
	for _, want := range []string{
		"  --api-url list\n",
		"(kernel: ipa-api-url, file: api_url)",
		"  --lookup-timeout seconds\n",
		"(default 600)",
		"  --listen-host string\n",
		"(default ::)",
		"  --enable-auto-tls\n",
		"(file: enable_auto_tls) (default true)",
		"  --disk-utils-efi-system-partition-size int\n",
		"(file: [disk_utils] efi_system_partition_size) (default 550)",
		"  --config-file path\n",
		"  --cmdline-file path\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("-h output lacks %q", want)
		}
	}
	if strings.Contains(out, "--insecure\n    \tDo not verify TLS certificates of Ironic and image servers (kernel: ipa-insecure, file: insecure) (default") {
		t.Error("-h shows a default for a false boolean")
	}
}

// TestOptionTable checks the table against Config: every field but the
// derived ones has exactly one option, and names do not collide.
func TestOptionTable(t *testing.T) {
	c := &Config{}
	owner := map[uintptr]string{}
	for i := range options {
		o := &options[i]
		addr := reflect.ValueOf(o.field(c)).Pointer()
		if prev, ok := owner[addr]; ok {
			t.Errorf("options %s and %s share a field", prev, o.name)
		}
		owner[addr] = o.name
		if o.kernel != "" && !strings.HasPrefix(o.kernel, "ipa-") {
			t.Errorf("%s: kernel parameter %q lacks ipa-", o.name, o.kernel)
		}
	}
	if len(byFlag) != len(options) || len(byKey) != len(options) {
		t.Errorf("%d options, %d flags, %d file keys: names collide", len(options), len(byFlag), len(byKey))
	}
	derived := map[string]bool{"BootIF": true, "BootIFRaw": true, "Cmdline": true, "Files": true, "InitArgs": true, "Problems": true, "Unknown": true}
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		for i := 0; i < v.NumField(); i++ {
			f, name := v.Field(i), prefix+v.Type().Field(i).Name
			switch {
			case derived[name]:
			case f.Kind() == reflect.Struct && f.Type() != reflect.TypeFor[time.Duration]():
				walk(f, name+".")
			default:
				if _, ok := owner[f.Addr().Pointer()]; !ok {
					t.Errorf("field %s has no option", name)
				}
			}
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")
}

// TestUnsupportedRefused: options goipa reads but does not implement are
// refused at start with a message (the load fails on a dev host; as /init
// they are problems logged at start and the rest applies), never silently
// ignored. [MDNS] is also read as [mdns].
func TestUnsupportedRefused(t *testing.T) {
	e := env{cmdline: "ipa-inspection-benchmarks=cpu,disk ipa-api-url=http://10.0.0.1:6385",
		files: map[string]string{"etc/ipa.conf": "[MDNS]\nuse_mdns = true\n"}}
	_, _, err := e.load(t)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "ipa-use-mdns") || !strings.Contains(err.Error(), "ipa-inspection-benchmarks") {
		t.Errorf("dev host: err = %v, want both options refused", err)
	}
	e.init = true
	c, _, err := e.load(t)
	if err != nil {
		t.Fatal(err)
	}
	if p := errors.Join(c.Problems...); !errors.Is(p, ErrUnsupported) || len(c.APIURL) != 1 {
		t.Errorf("as /init: problems %v, api %v", c.Problems, c.APIURL)
	}
	if c, _, err := (env{cmdline: "ipa-use-mdns=0 ipa-inspection-benchmarks="}).load(t); err != nil || c.UseMDNS {
		t.Errorf("off: %v", err)
	}
}
