package uefi

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeFlags keeps inode flags by file name, as chattr would see them.
type fakeFlags struct {
	flags  map[string]uint32
	getErr error
	setErr error
}

func (f *fakeFlags) get(file *os.File) (uint32, error) {
	return f.flags[filepath.Base(file.Name())], f.getErr
}

func (f *fakeFlags) set(file *os.File, flags uint32) error {
	if f.setErr != nil {
		return f.setErr
	}
	f.flags[filepath.Base(file.Name())] = flags
	return nil
}

func varFile(t *testing.T, v *Vars, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(v.path(name, GlobalVariable))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVarsSetGetRemove(t *testing.T) {
	v := &Vars{Dir: t.TempDir()}
	if err := v.Set("Test", GlobalVariable, 7, []byte("abcdef")); err != nil {
		t.Fatal(err)
	}
	if got := varFile(t, v, "Test"); !bytes.Equal(got, []byte("\x07\x00\x00\x00abcdef")) {
		t.Errorf("file holds %q, want the attributes then the data", got)
	}
	// A shorter value must not keep the old tail.
	if err := v.Set("Test", GlobalVariable, 6, []byte("xy")); err != nil {
		t.Fatal(err)
	}
	attrs, data, err := v.Get("Test", GlobalVariable)
	if err != nil || attrs != 6 || string(data) != "xy" {
		t.Errorf("Get = %d, %q, %v", attrs, data, err)
	}
	os.WriteFile(filepath.Join(v.Dir, "Other-"+MustParseGUID("00000000-0000-0000-0000-000000000001").String()), []byte("1234x"), 0o644)
	if names, err := v.Names(GlobalVariable); err != nil || !slices.Equal(names, []string{"Test"}) {
		t.Errorf("Names = %v, %v", names, err)
	}
	if err := v.Remove("Test", GlobalVariable); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Get("Test", GlobalVariable); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Get after Remove: %v", err)
	}
	if err := v.Remove("Test", GlobalVariable); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove of a missing variable: %v", err)
	}
}

// TestVarsImmutable: efivarfs marks variables immutable; rewriting or
// deleting one clears only that flag first, and a file system without
// inode flags is no obstacle.
func TestVarsImmutable(t *testing.T) {
	const other = 0x80000 // FS_EXTENT_FL, which must survive
	for _, tc := range []struct {
		name      string
		getErr    error
		setErr    error
		wantErr   bool
		wantFlags uint32
	}{
		{name: "immutable cleared", wantFlags: other},
		{name: "no inode flags", getErr: unix.ENOTTY, wantFlags: fsImmutableFL | other},
		{name: "flags unreadable", getErr: unix.EIO, wantErr: true, wantFlags: fsImmutableFL | other},
		{name: "flag not cleared", setErr: unix.EPERM, wantErr: true, wantFlags: fsImmutableFL | other},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flags := &fakeFlags{getErr: tc.getErr, setErr: tc.setErr}
			v := &Vars{Dir: t.TempDir(), flags: flags}
			for _, op := range []struct {
				name string
				do   func() error
				done func() bool
			}{
				{"Set", func() error { return v.Set("Test", GlobalVariable, 7, []byte("new")) },
					func() bool { return string(varFile(t, v, "Test")[4:]) == "new" }},
				{"Remove", func() error { return v.Remove("Test", GlobalVariable) },
					func() bool { _, err := os.Stat(v.path("Test", GlobalVariable)); return err != nil }},
			} {
				os.WriteFile(v.path("Test", GlobalVariable), []byte("\x07\x00\x00\x00old"), 0o644)
				flags.flags = map[string]uint32{"Test-" + GlobalVariable.String(): fsImmutableFL | other}
				err := op.do()
				if (err != nil) != tc.wantErr {
					t.Errorf("%s: %v", op.name, err)
				}
				if op.done() == tc.wantErr {
					t.Errorf("%s: changed the variable: %v, want %v", op.name, !tc.wantErr, tc.wantErr)
				}
				if got := flags.flags["Test-"+GlobalVariable.String()]; got != tc.wantFlags {
					t.Errorf("%s: flags %#x, want %#x", op.name, got, tc.wantFlags)
				}
			}
		})
	}
	// A new variable has no flags to clear.
	flags := &fakeFlags{flags: map[string]uint32{}}
	v := &Vars{Dir: t.TempDir(), flags: flags}
	if err := v.Set("New", GlobalVariable, 7, []byte{1}); err != nil || len(flags.flags) != 0 {
		t.Errorf("Set of a new variable: %v, flags %v", err, flags.flags)
	}
}

// TestVarsImmutableIoctl uses the real ioctls where the temporary
// directory's file system honours the immutable flag (ext4, tmpfs): the
// kernel then refuses the write unless the flag is cleared first.
func TestVarsImmutableIoctl(t *testing.T) {
	v := &Vars{Dir: t.TempDir()}
	p := v.path("Test", GlobalVariable)
	os.WriteFile(p, []byte("\x07\x00\x00\x00old"), 0o644)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cur, err := ioctlFlags{}.get(f)
	if err == nil {
		err = ioctlFlags{}.set(f, cur|fsImmutableFL)
	}
	// Only a file system without inode flags may excuse the test; any other
	// error is the ioctl code's.
	if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EOPNOTSUPP) {
		t.Skipf("no immutable flag here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ioctlFlags{}.set(f, cur) })
	if err := os.WriteFile(p, []byte("\x07\x00\x00\x00bad"), 0o644); err == nil {
		t.Skip("the file system ignores the immutable flag")
	}
	if err := v.Set("Test", GlobalVariable, 7, []byte("new")); err != nil {
		t.Fatalf("Set on an immutable file: %v", err)
	}
	if got := varFile(t, v, "Test"); string(got[4:]) != "new" {
		t.Errorf("holds %q", got)
	}
	ioctlFlags{}.set(f, cur|fsImmutableFL)
	if err := v.Remove("Test", GlobalVariable); err != nil {
		t.Fatalf("Remove of an immutable file: %v", err)
	}
}
