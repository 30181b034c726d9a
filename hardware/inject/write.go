package inject

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// The instance's filesystem is untrusted: its symlinks are resolved inside
// it (openat2 RESOLVE_IN_ROOT), as in a chroot, so an absolute or ".."
// link cannot make the agent write to the ramdisk.
const inRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

func openInRoot(root *os.File, rel string, flags int) (int, error) {
	return unix.Openat2(int(root.Fd()), rel, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: inRoot})
}

// parentDir opens (creating as needed) the directory of rel under root. It
// reports whether it created the leaf directory.
func parentDir(root *os.File, rel string) (fd int, created bool, err error) {
	dir := path.Dir(rel)
	if dir == "." {
		fd, err := unix.Dup(int(root.Fd()))
		return fd, false, err
	}
	fd, err = openInRoot(root, dir, unix.O_DIRECTORY|unix.O_RDONLY)
	if err == nil {
		return fd, false, nil
	}
	if !errors.Is(err, unix.ENOENT) {
		return -1, false, fmt.Errorf("opening directory %s: %w", dir, err)
	}
	parent, _, err := parentDir(root, dir)
	if err != nil {
		return -1, false, err
	}
	defer unix.Close(parent)
	// 0755 before the umask, as Python's os.makedirs.
	if err := unix.Mkdirat(parent, path.Base(dir), 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, false, fmt.Errorf("creating directory %s: %w", dir, err)
	}
	fd, err = openInRoot(root, dir, unix.O_DIRECTORY|unix.O_RDONLY)
	if err != nil {
		return -1, false, fmt.Errorf("opening directory %s: %w", dir, err)
	}
	return fd, true, nil
}

// writeFile writes content to rel under root atomically: a temporary file
// in the same directory is written, synced, given its mode and owner, and
// renamed over the old one. An existing file's mode and owner are kept
// unless f sets them; a new file is 0644, owned by the agent (root).
func writeFile(ctx context.Context, root *os.File, rel string, f File, content io.Reader) error {
	dir, created, err := parentDir(root, rel)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	if created && f.DirMode != nil {
		if err := unix.Fchmod(dir, uint32(*f.DirMode)); err != nil {
			return fmt.Errorf("chmod %#o %s: %w", *f.DirMode, path.Dir(rel), err)
		}
	}
	base := path.Base(rel)
	// A new file is created 0644 less the umask, as IPA's open() does,
	// and keeps whatever the filesystem made of that (vfat refuses modes
	// it cannot store) unless f sets a mode.
	mode, keepMode, uid, gid := uint32(0o644), true, -1, -1
	var old unix.Stat_t
	switch err := unix.Fstatat(dir, base, &old, unix.AT_SYMLINK_NOFOLLOW); {
	case err == nil && old.Mode&unix.S_IFMT == unix.S_IFDIR:
		return fmt.Errorf("%s is a directory", rel)
	case err == nil && old.Mode&unix.S_IFMT == unix.S_IFREG:
		mode, keepMode, uid, gid = old.Mode&0o7777, false, int(old.Uid), int(old.Gid)
	case err != nil && !errors.Is(err, unix.ENOENT):
		return fmt.Errorf("stat %s: %w", rel, err)
	}
	if f.Mode != nil {
		mode, keepMode = uint32(*f.Mode), false
	}
	if f.Owner != nil && *f.Owner != -1 {
		uid = *f.Owner
	}
	if f.Group != nil && *f.Group != -1 {
		gid = *f.Group
	}

	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := "." + base + ".goipa-" + hex.EncodeToString(rnd[:])
	if len(tmp) > 255 {
		tmp = ".goipa-" + hex.EncodeToString(rnd[:])
	}
	fd, err := unix.Openat(dir, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW, mode&0o777)
	if err != nil {
		return fmt.Errorf("creating a temporary file next to %s: %w", rel, err)
	}
	file := os.NewFile(uintptr(fd), tmp)
	done := false
	defer func() {
		file.Close()
		if !done {
			_ = unix.Unlinkat(dir, tmp, 0)
		}
	}()
	if _, err := io.Copy(file, ctxReader{ctx, content}); err != nil {
		return fmt.Errorf("writing %s: %w", rel, err)
	}
	if err := setAttrs(fd, mode, !keepMode, uid, gid); err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	if err := file.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", rel, err)
	}
	if err := unix.Renameat(dir, tmp, dir, base); err != nil {
		return fmt.Errorf("renaming into %s: %w", rel, err)
	}
	done = true
	if err := unix.Fsync(dir); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("fsync the directory of %s: %w", rel, err)
	}
	return nil
}

// setAttrs changes what differs only: filesystems like vfat refuse changes
// they cannot store, but accept what they already have. Ids -1 mean no
// change.
func setAttrs(fd int, mode uint32, setMode bool, uid, gid int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if uid == int(st.Uid) {
		uid = -1
	}
	if gid == int(st.Gid) {
		gid = -1
	}
	if uid != -1 || gid != -1 {
		if err := unix.Fchown(fd, uid, gid); err != nil {
			return fmt.Errorf("chown %d:%d: %w", uid, gid, err)
		}
		// chown clears setuid and setgid: the mode goes on afterwards.
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
	}
	if setMode && st.Mode&0o7777 != mode {
		if err := unix.Fchmod(fd, mode); err != nil {
			return fmt.Errorf("chmod %#o: %w", mode, err)
		}
	}
	return nil
}

// removeFile deletes rel under root; a missing file (or directory) is not
// an error, as in IPA.
func removeFile(root *os.File, rel string) error {
	dirPath := path.Dir(rel)
	fd, err := openInRoot(root, dirPath, unix.O_DIRECTORY|unix.O_RDONLY)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening directory %s: %w", dirPath, err)
	}
	defer unix.Close(fd)
	if err := unix.Unlinkat(fd, path.Base(rel), 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing %s: %w", rel, err)
	}
	return nil
}

// relPath turns a file's path into one relative to the filesystem root.
func relPath(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
