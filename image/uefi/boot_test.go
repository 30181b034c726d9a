package uefi

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func writeEntry(t *testing.T, v *Vars, num uint16, label, loader string) {
	t.Helper()
	o := &LoadOption{Attributes: LoadOptionActive, Description: label, FilePaths: []DevicePath{{
		GPTHardDrive(1, 0x800, 0x1000, MustParseGUID("11111111-2222-3333-4444-555555555555")), FilePath(loader)}}}
	b, err := o.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Set(BootName(num), GlobalVariable, 7, b); err != nil {
		t.Fatal(err)
	}
}

func setOrder(t *testing.T, v *Vars, name string, nums ...uint16) {
	t.Helper()
	var b []byte
	for _, n := range nums {
		b = binary.LittleEndian.AppendUint16(b, n)
	}
	if err := v.Set(name, GlobalVariable, 7, b); err != nil {
		t.Fatal(err)
	}
}

func TestBootEntries(t *testing.T) {
	v := &Vars{Dir: t.TempDir()}
	writeEntry(t, v, 0x000A, "ten", `\a.efi`)
	writeEntry(t, v, 0x0001, "one", `\b.efi`)
	v.Set("Boot0002", GlobalVariable, 7, []byte{1, 0, 0, 0, 0xff, 0}) // paths overrun: skipped
	v.Set("Boot000b", GlobalVariable, 7, nil)                         // lower-case hex: not an entry
	v.Set("BootNext", GlobalVariable, 7, []byte{1, 0})
	os.WriteFile(filepath.Join(v.Dir, "Boot0003-"+MustParseGUID("00000000-0000-0000-0000-000000000001").String()), []byte{7, 0, 0, 0}, 0o644)
	entries, err := v.BootEntries()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, BootName(e.Num)+" "+e.Description)
	}
	if want := []string{"Boot0001 one", "Boot000A ten"}; !slices.Equal(got, want) {
		t.Errorf("entries %v, want %v", got, want)
	}

	if order, err := v.BootOrder(); err != nil || order != nil {
		t.Errorf("BootOrder without the variable = %v, %v", order, err)
	}
	setOrder(t, v, "BootOrder", 0xA, 1)
	if order, err := v.BootOrder(); err != nil || !slices.Equal(order, []uint16{0xA, 1}) {
		t.Errorf("BootOrder = %v, %v", order, err)
	}
	v.Set("BootOrder", GlobalVariable, 7, []byte{1, 0, 0})
	if _, err := v.BootOrder(); err == nil {
		t.Error("a BootOrder of odd length was accepted")
	}

	if _, err := v.BootCurrent(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("BootCurrent without the variable: %v", err)
	}
	setOrder(t, v, "BootCurrent", 0xA)
	if n, err := v.BootCurrent(); err != nil || n != 0xA {
		t.Errorf("BootCurrent = %v, %v", n, err)
	}
}

func TestAddDeleteBootEntry(t *testing.T) {
	v := &Vars{Dir: t.TempDir()}
	for _, n := range []uint16{0, 1, 3} {
		writeEntry(t, v, n, "old", `\x.efi`)
	}
	setOrder(t, v, "BootOrder", 3, 1, 0)
	o := goldenOption()
	num, err := v.AddBootEntry(o)
	if err != nil || num != 2 {
		t.Fatalf("AddBootEntry = %d, %v; want the lowest free number, 2", num, err)
	}
	want, _ := o.MarshalBinary()
	if attrs, data, err := v.Get("Boot0002", GlobalVariable); err != nil || attrs != 7 || string(data) != string(want) {
		t.Errorf("Boot0002 = %d, %x, %v; want NV|BS|RT and\n%x", attrs, data, err, want)
	}
	if order, _ := v.BootOrder(); !slices.Equal(order, []uint16{2, 3, 1, 0}) {
		t.Errorf("BootOrder %v, want the new entry first", order)
	}

	if err := v.DeleteBootEntry(3); err != nil {
		t.Fatal(err)
	}
	if order, _ := v.BootOrder(); !slices.Equal(order, []uint16{2, 1, 0}) {
		t.Errorf("BootOrder %v after deleting 3", order)
	}
	if num, err := v.AddBootEntry(o); err != nil || num != 3 {
		t.Errorf("AddBootEntry = %d, %v; want the freed number 3", num, err)
	}
	if err := v.DeleteBootEntry(9); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("deleting a missing entry: %v", err)
	}
	for _, n := range []uint16{0, 1, 2, 3} {
		if err := v.DeleteBootEntry(n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(v.path("BootOrder", GlobalVariable)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an empty BootOrder was left behind: %v", err)
	}
	// Without a BootOrder, the new entry makes one.
	if num, err := v.AddBootEntry(o); err != nil || num != 0 {
		t.Fatalf("AddBootEntry = %d, %v", num, err)
	}
	if order, _ := v.BootOrder(); !slices.Equal(order, []uint16{0}) {
		t.Errorf("BootOrder %v", order)
	}
	if _, err := (&Vars{Dir: filepath.Join(v.Dir, "absent")}).AddBootEntry(o); err == nil {
		t.Error("AddBootEntry without efivarfs succeeded")
	}
}
