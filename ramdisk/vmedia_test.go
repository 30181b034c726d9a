package ramdisk

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

func TestCopyConfig(t *testing.T) {
	root, etc := t.TempDir(), t.TempDir()
	files := map[string]string{
		"etc/ironic-python-agent/ironic.crt":         "CA",
		"etc/ironic-python-agent.d/ironic-tls.conf":  "[DEFAULT]\ncafile = /etc/ironic-python-agent/ironic.crt\n",
		"etc/ironic-python-agent.d/sub/ignored.conf": "directories are not copied",
		"openstack/latest/network_data.json":         "{}",
		"etc/other/ignored.conf":                     "",
	}
	for p, body := range files {
		mkdir(t, filepath.Dir(filepath.Join(root, p)))
		if err := os.WriteFile(filepath.Join(root, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A file the ramdisk image already has is replaced.
	mkdir(t, filepath.Join(etc, "ironic-python-agent.d"))
	if err := os.WriteFile(filepath.Join(etc, "ironic-python-agent.d/ironic-tls.conf"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	copied, err := copyConfig(root, etc)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(etc, "ironic-python-agent/ironic.crt"), filepath.Join(etc, "ironic-python-agent.d/ironic-tls.conf")}
	if !reflect.DeepEqual(copied, want) {
		t.Errorf("copied %q, want %q", copied, want)
	}
	for _, p := range []string{"ironic-python-agent/ironic.crt", "ironic-python-agent.d/ironic-tls.conf"} {
		b, err := os.ReadFile(filepath.Join(etc, p))
		if err != nil || string(b) != files["etc/"+p] {
			t.Errorf("%s = %q, %v; want %q", p, b, err, files["etc/"+p])
		}
	}

	// No config directories: nothing copied, no error.
	if copied, err := copyConfig(t.TempDir(), etc); err != nil || len(copied) != 0 {
		t.Errorf("empty medium: copied %q, %v", copied, err)
	}
}

func TestVMediaBoot(t *testing.T) {
	tests := []struct {
		cmdline map[string]string
		want    bool
	}{
		{map[string]string{"boot_method": "vmedia"}, true},
		{map[string]string{"boot_method": "pxe"}, false},
		{map[string]string{"ipa-api-url": "http://x"}, false},
	}
	for _, tt := range tests {
		if got := VMediaBoot(tt.cmdline); got != tt.want {
			t.Errorf("%v: VMediaBoot = %v, want %v", tt.cmdline, got, tt.want)
		}
	}
}

func mkdir(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func run(t *testing.T, argv ...string) {
	t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", argv, err, out)
	}
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make deps-test)", tool)
		}
	}
}
