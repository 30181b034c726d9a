// Package uefi reads and writes the firmware's boot entries (Boot####,
// BootOrder) through efivarfs, as efibootmgr does, without its libraries:
// load options and device paths are encoded here, and device paths are
// rendered in efibootmgr -v's text form so patterns written against that
// output keep matching.
package uefi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultDir is where the kernel's efivarfs is mounted.
const DefaultDir = "/sys/firmware/efi/efivars"

// Variable attributes: every boot variable is non-volatile and visible to
// boot services and the running OS.
const (
	NonVolatile       = 0x1
	BootserviceAccess = 0x2
	RuntimeAccess     = 0x4
	bootAttrs         = NonVolatile | BootserviceAccess | RuntimeAccess
)

// fsImmutableFL is FS_IMMUTABLE_FL: efivarfs sets it on variables the
// kernel does not know to be safe to change.
const fsImmutableFL = 0x00000010

// Vars are the UEFI variables under an efivarfs mount: each is a file
// <Name>-<vendor GUID> holding the attributes (UINT32) then the data.
type Vars struct {
	Dir string // DefaultDir, or a plain directory in tests
	// Log hears the entries skipped as unreadable; nil discards it.
	Log *slog.Logger
	// flags reads and sets inode flags; nil is the FS_IOC_GETFLAGS and
	// FS_IOC_SETFLAGS ioctls.
	flags inodeFlags
}

// inodeFlags is chattr's view of a file.
type inodeFlags interface {
	get(f *os.File) (uint32, error)
	set(f *os.File, flags uint32) error
}

type ioctlFlags struct{}

func (ioctlFlags) get(f *os.File) (uint32, error) {
	return unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
}

func (ioctlFlags) set(f *os.File, flags uint32) error {
	return unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags))
}

func (v *Vars) path(name string, vendor GUID) string {
	return filepath.Join(v.Dir, name+"-"+vendor.String())
}

// Get returns a variable's attributes and data; a missing variable is an
// error matching fs.ErrNotExist.
func (v *Vars) Get(name string, vendor GUID) (attrs uint32, data []byte, err error) {
	b, err := os.ReadFile(v.path(name, vendor))
	if err != nil {
		return 0, nil, err
	}
	if len(b) < 4 {
		return 0, nil, fmt.Errorf("%s: %w (%d bytes)", name, fs.ErrNotExist, len(b))
	}
	return binary.LittleEndian.Uint32(b), b[4:], nil
}

// Set creates or replaces a variable. efivarfs wants the attributes and the
// data in a single write(2).
func (v *Vars) Set(name string, vendor GUID, attrs uint32, data []byte) error {
	p := v.path(name, vendor)
	if err := v.makeMutable(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := append(binary.LittleEndian.AppendUint32(nil, attrs), data...)
	n, err := f.Write(buf)
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if n != len(buf) {
		return fmt.Errorf("writing %s: %d of %d bytes written", name, n, len(buf))
	}
	// efivarfs sizes the file by that write; a plain directory keeps the
	// tail of a longer old value.
	if st, err := f.Stat(); err == nil && st.Size() > int64(n) {
		return f.Truncate(int64(n))
	}
	return nil
}

// Remove deletes a variable; a missing one is an error matching
// fs.ErrNotExist.
func (v *Vars) Remove(name string, vendor GUID) error {
	p := v.path(name, vendor)
	if err := v.makeMutable(p); err != nil {
		return err
	}
	return os.Remove(p)
}

// Names lists the vendor's variables.
func (v *Vars) Names(vendor GUID) ([]string, error) {
	ents, err := os.ReadDir(v.Dir)
	if err != nil {
		return nil, err
	}
	suffix := "-" + vendor.String()
	var names []string
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), suffix); ok && e.Type().IsRegular() {
			names = append(names, name)
		}
	}
	return names, nil
}

// makeMutable clears the immutable flag efivarfs may have set, which
// blocks both rewriting and unlinking. A file system without inode flags
// has nothing to clear.
func (v *Vars) makeMutable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := v.flags
	if flags == nil {
		flags = ioctlFlags{}
	}
	cur, err := flags.get(f)
	if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the flags of %s: %w", path, err)
	}
	if cur&fsImmutableFL == 0 {
		return nil
	}
	if err := flags.set(f, cur&^fsImmutableFL); err != nil {
		return fmt.Errorf("making %s mutable: %w", path, err)
	}
	return nil
}
