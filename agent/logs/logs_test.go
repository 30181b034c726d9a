package logs

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRingKeepsLastLines(t *testing.T) {
	var console bytes.Buffer
	r := NewRing(20, &console)
	for _, l := range []string{"first line\n", "second line\n", "third\n"} {
		if _, err := r.Write([]byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	if got := string(r.Bytes()); got != "second line\nthird\n" {
		t.Errorf("ring = %q", got)
	}
	if len(r.Bytes()) > 20 {
		t.Errorf("ring holds %d bytes, limit 20", len(r.Bytes()))
	}
	if console.String() != "first line\nsecond line\nthird\n" {
		t.Errorf("console = %q", console.String())
	}
}

func TestArchive(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "proc/42"), 0o755))
	must(os.WriteFile(filepath.Join(root, "proc/mdstat"), []byte("Personalities : [raid1]\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "proc/42/cmdline"), []byte("goipa\x00--debug\x00"), 0o644))
	must(os.MkdirAll(filepath.Join(root, "sys/block/vda/device"), 0o755))
	must(os.WriteFile(filepath.Join(root, "sys/block/vda/size"), []byte("2048\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "sys/block/vda/device/model"), []byte("QEMU disk\n"), 0o644))

	ring := NewRing(1<<10, nil)
	ring.Write([]byte("level=INFO msg=\"agent started\"\n"))
	c := &Collector{Ring: ring, Root: root, Kmsg: func() ([]byte, error) { return []byte("Linux version 6.1\n"), nil }}
	b64, err := c.Archive(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	got := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = string(b)
	}
	for name, want := range map[string]string{
		"goipa.log": "agent started",
		"dmesg":     "Linux version 6.1",
		"mdstat":    "Personalities : [raid1]",
		"block":     "vda",
		"ps":        "42 goipa --debug",
		"network":   "lo",
		"mounts":    "unavailable:",
	} {
		if !strings.Contains(got[name], want) {
			t.Errorf("%s = %q, want it to contain %q", name, got[name], want)
		}
	}
	if !strings.Contains(got["block"], "1048576") || !strings.Contains(got["block"], "QEMU disk") {
		t.Errorf("block listing = %q", got["block"])
	}
}
