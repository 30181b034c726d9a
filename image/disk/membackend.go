package disk

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/diskfs/go-diskfs/backend"
)

// memStorage is a fixed-size in-memory go-diskfs backend: the config drive
// ISO is read and the vfat replacement built in RAM, then written to the
// partition with aligned writes.
type memStorage struct {
	b   []byte
	pos int64
}

var _ backend.Storage = (*memStorage)(nil)

func (m *memStorage) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memStorage) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		return 0, errors.New("write beyond the end of the filesystem image")
	}
	return copy(m.b[off:], p), nil
}

func (m *memStorage) Read(p []byte) (int, error) {
	n, err := m.ReadAt(p, m.pos)
	m.pos += int64(n)
	return n, err
}

func (m *memStorage) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += m.pos
	case io.SeekEnd:
		off += int64(len(m.b))
	}
	if off < 0 {
		return 0, errors.New("negative seek")
	}
	m.pos = off
	return off, nil
}

func (m *memStorage) Stat() (fs.FileInfo, error)              { return memInfo(len(m.b)), nil }
func (m *memStorage) Close() error                            { return nil }
func (m *memStorage) Sys() (*os.File, error)                  { return nil, errors.New("in-memory image has no file") }
func (m *memStorage) Writable() (backend.WritableFile, error) { return m, nil }
func (m *memStorage) Path() string                            { return "" }

type memInfo int64

func (i memInfo) Name() string       { return "memory" }
func (i memInfo) Size() int64        { return int64(i) }
func (i memInfo) Mode() fs.FileMode  { return 0o600 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }
