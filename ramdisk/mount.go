package ramdisk

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// mount is one file system the agent needs that u-root's init leaves out.
type mount struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
	// onlyIf names a path that must exist (firmware interfaces).
	onlyIf string
}

// earlyMounts come before module loading.
var earlyMounts = []mount{
	// mdadm keeps its map file in /run/mdadm; IPA keeps its TLS files in /run.
	{source: "tmpfs", target: "/run", fstype: "tmpfs", flags: unix.MS_NOSUID | unix.MS_NODEV, data: "mode=0755"},
}

// lateMounts need modules (efivarfs is a module in Debian's kernel).
var lateMounts = []mount{
	{source: "efivarfs", target: "/sys/firmware/efi/efivars", fstype: "efivarfs",
		flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, onlyIf: "/sys/firmware/efi"},
}

// runDirs are created after /run is mounted.
var runDirs = []string{"/run/mdadm"}

func doMounts(ms []mount) error {
	mounted, err := mountPoints()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if mounted[m.target] {
			continue
		}
		if m.onlyIf != "" {
			if _, err := os.Stat(m.onlyIf); err != nil {
				continue
			}
		}
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
		}
	}
	return nil
}

func mountPoints() (map[string]bool, error) {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]bool{}
	err = eachMount(f, func(target, _ string) { out[target] = true })
	return out, err
}

// eachMount calls fn with the mount point and type of each /proc/mounts line,
// undoing the octal escapes of spaces and the like.
func eachMount(r io.Reader, fn func(target, fstype string)) error {
	s := bufio.NewScanner(r)
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) >= 3 {
			fn(unescapeMount(f[1]), f[2])
		}
	}
	return s.Err()
}

func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
