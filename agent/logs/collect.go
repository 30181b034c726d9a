package logs

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Collector gathers what IPA's collect_system_logs gathers, in-process: the
// agent's log, the kernel log, /proc/mdstat, block and network listings.
type Collector struct {
	Ring *Ring
	// Root prefixes /proc and /sys (tests point it at a fake tree).
	Root string
	// Kmsg reads the kernel ring buffer; nil uses syslog(2).
	Kmsg func() ([]byte, error)
	Now  func() time.Time
	// Ready, if set, is waited for first: in the ramdisk, md and storage
	// drivers load in the background and /proc/mdstat appears with them.
	Ready func(ctx context.Context) error
}

// Files returns the archive members by name.
func (c *Collector) Files(ctx context.Context) map[string][]byte {
	files := map[string][]byte{}
	if c.Ready != nil {
		if err := c.Ready(ctx); err != nil {
			files["collect-errors"] = []byte("storage drivers not loaded: " + err.Error() + "\n")
		}
	}
	if c.Ring != nil {
		files["goipa.log"] = c.Ring.Bytes()
	}
	kmsg := c.Kmsg
	if kmsg == nil {
		kmsg = readKernelLog
	}
	files["dmesg"] = orError(kmsg())
	for name, path := range map[string]string{
		"mdstat":     "proc/mdstat",
		"partitions": "proc/partitions",
		"mounts":     "proc/mounts",
		"cmdline":    "proc/cmdline",
		"meminfo":    "proc/meminfo",
	} {
		files[name] = orError(os.ReadFile(filepath.Join(c.root(), path)))
	}
	files["block"] = c.blockListing()
	files["network"] = networkListing()
	files["ps"] = c.processListing()
	return files
}

func (c *Collector) root() string {
	if c.Root == "" {
		return "/"
	}
	return c.Root
}

// Archive returns the base64 of a gzipped tar of Files, the format the
// conductor decodes and stores.
func (c *Collector) Archive(ctx context.Context) (string, error) {
	files := c.Files(ctx)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, n := range names {
		hdr := &tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), ModTime: now, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return "", err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := gz.Close(); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

func orError(b []byte, err error) []byte {
	if err != nil {
		return []byte("unavailable: " + err.Error() + "\n")
	}
	return b
}

func readKernelLog() ([]byte, error) {
	n, err := unix.Klogctl(unix.SYSLOG_ACTION_SIZE_BUFFER, nil)
	if err != nil {
		return nil, fmt.Errorf("syslog size: %w", err)
	}
	buf := make([]byte, n)
	m, err := unix.Klogctl(unix.SYSLOG_ACTION_READ_ALL, buf)
	if err != nil {
		return nil, fmt.Errorf("syslog read: %w", err)
	}
	return buf[:m], nil
}

// blockListing is a small lsblk: name, size, model, holders, from sysfs.
func (c *Collector) blockListing() []byte {
	dir := filepath.Join(c.root(), "sys/block")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return orError(nil, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-12s %16s %-4s %s\n", "NAME", "SIZE", "RO", "MODEL")
	for _, e := range ents {
		read := func(p string) string {
			v, _ := os.ReadFile(filepath.Join(dir, e.Name(), p))
			return strings.TrimSpace(string(v))
		}
		var sectors int64
		fmt.Sscan(read("size"), &sectors)
		fmt.Fprintf(&b, "%-12s %16d %-4s %s\n", e.Name(), sectors*512, read("ro"), read("device/model"))
	}
	return []byte(b.String())
}

func networkListing() []byte {
	ifs, err := net.Interfaces()
	if err != nil {
		return orError(nil, err)
	}
	var b strings.Builder
	for _, i := range ifs {
		fmt.Fprintf(&b, "%d: %s mtu %d %s %s\n", i.Index, i.Name, i.MTU, i.HardwareAddr, i.Flags)
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			fmt.Fprintf(&b, "    %s\n", a)
		}
	}
	return []byte(b.String())
}

func (c *Collector) processListing() []byte {
	proc := filepath.Join(c.root(), "proc")
	ents, err := os.ReadDir(proc)
	if err != nil {
		return orError(nil, err)
	}
	var b strings.Builder
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join(proc, e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "%s %s\n", e.Name(), strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " ")))
	}
	return []byte(b.String())
}
