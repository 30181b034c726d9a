package ramdisk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUevent(t *testing.T) {
	msg := func(fields ...string) []byte { return []byte(strings.Join(fields, "\x00") + "\x00") }
	for _, tc := range []struct {
		name string
		msg  []byte
		want string
		ok   bool
	}{
		{"usb interface added", msg("add@/devices/pci0000:00/0000:00:04.0/usb1/1-1/1-1:1.0", "ACTION=add",
			"DEVPATH=/devices/pci0000:00/0000:00:04.0/usb1/1-1/1-1:1.0", "SUBSYSTEM=usb",
			"MODALIAS=usb:v46F4p0001d0000dc00dsc00dp00ic08isc06ip50in00", "SEQNUM=1234"),
			"usb:v46F4p0001d0000dc00dsc00dp00ic08isc06ip50in00", true},
		{"hid device added", msg("add@/x", "ACTION=add", "MODALIAS=hid:b0003g0001v00000627p00000001"), "hid:b0003g0001v00000627p00000001", true},
		{"removed", msg("remove@/x", "ACTION=remove", "MODALIAS=usb:v1p2d3dc0dsc0dp0ic8isc6ip50in0"), "", false},
		{"pci is coldplugged only", msg("add@/x", "ACTION=add", "MODALIAS=pci:v00008086d000010D3sv0sd0bc02sc00i00"), "", false},
		{"no modalias", msg("add@/x", "ACTION=add", "SUBSYSTEM=block"), "", false},
	} {
		got, ok := uevent(tc.msg)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: %q %v, want %q %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// TestReleaseFirmware: firmware of drivers that did not load goes, that of
// loaded drivers and of drivers kept for hotplug stays.
func TestReleaseFirmware(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"bnx2x/bnx2x-e2-7.13.21.0.fw": "bnx2x", // loaded
		"qed/qed_init_values.bin":     "qede",  // absent hardware
		"rtl_nic/rtl8153a-4.fw":       "r8152", // USB NIC, kept for hotplug
		"shared.bin":                  "qede",  // named by a loaded and an absent driver
	}
	var mapLines []string
	for f, mod := range files {
		p := filepath.Join(root, "lib/firmware", f+".xz")
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("fw"), 0o644)
		mapLines = append(mapLines, mod+" "+f)
	}
	mapLines = append(mapLines, "bnx2x shared.bin")
	os.MkdirAll(filepath.Join(root, "etc/goipa"), 0o755)
	os.WriteFile(filepath.Join(root, firmwareMapPath), []byte(strings.Join(mapLines, "\n")+"\n"), 0o644)
	l := &loader{state: map[string]error{"bnx2x": nil, "qede": os.ErrNotExist}}
	freed, err := l.releaseFirmware(root, map[string]bool{"r8152": true})
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]bool{"bnx2x/bnx2x-e2-7.13.21.0.fw": true, "qed/qed_init_values.bin": false,
		"rtl_nic/rtl8153a-4.fw": true, "shared.bin": true} {
		_, err := os.Stat(filepath.Join(root, "lib/firmware", f+".xz"))
		if (err == nil) != want {
			t.Errorf("%s kept %v, want %v", f, err == nil, want)
		}
	}
	if freed != 2 {
		t.Errorf("freed %d bytes, want 2", freed)
	}
}
