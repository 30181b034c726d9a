package hardware

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// tree builds a fake sysfs (or /dev, /proc) under a temporary directory.
type tree struct {
	t    *testing.T
	root string
}

func newTree(t *testing.T) *tree { return &tree{t, t.TempDir()} }

func (tr *tree) path(p string) string { return filepath.Join(tr.root, p) }

// set writes files: a key ending in "/" makes a directory, a value
// starting with "->" makes a symlink to that path under the root.
func (tr *tree) set(base string, files map[string]string) {
	tr.t.Helper()
	for k, v := range files {
		p := filepath.Join(tr.path(base), k)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tr.t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasSuffix(k, "/"):
			err = os.MkdirAll(p, 0o755)
		case strings.HasPrefix(v, "->"):
			err = os.Symlink(tr.path(strings.TrimPrefix(v, "->")), p)
		default:
			err = os.WriteFile(p, []byte(v), 0o644)
		}
		if err != nil {
			tr.t.Fatal(err)
		}
	}
}

// disk creates a block device at blockDir (relative to the root) with the
// kernel's links: block/NAME, class/block/NAME and NAME/device pointing
// at the parent device (the directory above "block", or above the disk).
func (tr *tree) disk(blockDir string, attrs map[string]string) {
	tr.t.Helper()
	name := filepath.Base(blockDir)
	dev := filepath.Dir(blockDir)
	if filepath.Base(dev) == "block" {
		dev = filepath.Dir(dev)
	}
	links := map[string]string{"block/" + name: "->" + blockDir, "class/block/" + name: "->" + blockDir}
	if !strings.HasPrefix(blockDir, "devices/virtual/") {
		links[blockDir+"/device"] = "->" + dev
	}
	tr.set(blockDir, map[string]string{"uevent": ""})
	tr.set("", links)
	tr.set(blockDir, attrs)
}

// partition adds partition n of disk.
func (tr *tree) partition(disk, name, n, sectors string) {
	tr.t.Helper()
	real, err := filepath.EvalSymlinks(tr.path("block/" + disk))
	if err != nil {
		tr.t.Fatal(err)
	}
	rel, _ := filepath.Rel(tr.root, filepath.Join(real, name))
	tr.set(rel, map[string]string{"partition": n, "size": sectors, "ro": "0"})
	tr.set("", map[string]string{"class/block/" + name: "->" + rel})
}

// vpd80 is a Unit Serial Number VPD page.
func vpd80(serial string) string {
	return string([]byte{0, 0x80, 0, byte(len(serial))}) + serial
}

// vpd83 is a Device Identification VPD page with a T10 vendor designator
// followed by the NAA name naa (binary).
func vpd83(naa []byte) string {
	t10 := append([]byte{0x02, 0x01, 0, 8}, "SEAGATE "...)
	d := append([]byte{0x01, 0x03, 0, byte(len(naa))}, naa...)
	body := append(t10, d...)
	return string(append([]byte{0, 0x83, 0, byte(len(body))}, body...))
}

// vpd89 is an ATA Information VPD page whose IDENTIFY data holds model.
func vpd89(model string) string {
	b := make([]byte, 60+512)
	b[1] = 0x89
	m := []byte(model + strings.Repeat(" ", 40-len(model)))
	for i := 0; i < 40; i += 2 {
		b[60+54+i], b[60+54+i+1] = m[i+1], m[i]
	}
	return string(b)
}

// dump renders a device with its pointers followed, for failure messages.
func dump(d BlockDevice) string {
	v := reflect.ValueOf(d)
	var b strings.Builder
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() == reflect.Pointer {
			if f.IsNil() {
				continue
			}
			f = f.Elem()
		}
		if f.IsZero() {
			continue
		}
		fmt.Fprintf(&b, "%s=%v ", v.Type().Field(i).Name, f.Interface())
	}
	return b.String()
}

func sorted(s []string) []string { slices.Sort(s); return s }
