package blockdev

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Mount is one line of /proc/self/mountinfo.
type Mount struct {
	Dev    string // "major:minor" (an anonymous 0:N for btrfs and friends)
	Point  string
	Source string
}

// ReadMounts parses a mountinfo file (proc(5)), skipping lines it cannot
// read. On a read error it returns the mounts before it with the error.
func ReadMounts(path string) ([]Mount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Mount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint opts… - fstype source superopts
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if len(fields) < 5 || sep < 0 || sep+2 >= len(fields) {
			continue
		}
		out = append(out, Mount{Dev: fields[2], Point: Unescape(fields[4]), Source: Unescape(fields[sep+2])})
	}
	return out, sc.Err()
}

// SourceName is the kernel name of a /dev source, following symlinks such
// as /dev/disk/by-uuid/…, or "" for other sources.
func (m Mount) SourceName() string {
	if !strings.HasPrefix(m.Source, "/dev/") {
		return ""
	}
	if p, err := filepath.EvalSymlinks(m.Source); err == nil {
		return filepath.Base(p)
	}
	return filepath.Base(m.Source)
}

// Mounted returns the first of mounts that is on the device or one of its
// partitions, and which node that is. A mount matches by major:minor, or by
// its /dev source for filesystems that report an anonymous device number
// (btrfs).
func (d *Device) Mounted(mounts []Mount) (Node, Mount, bool) {
	for _, m := range mounts {
		src := m.SourceName()
		for _, n := range d.Nodes {
			if m.Dev == n.Dev || src == n.Name {
				return n, m, true
			}
		}
	}
	return Node{}, Mount{}, false
}

// Unescape undoes the octal escapes of mountinfo and mounts (\040 for a
// space).
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
