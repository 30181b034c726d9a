// Package inject implements IPA's inject_files deploy and service step: it
// writes (or deletes) files on the deployed instance's partitions. A file's
// partition is given by number (of the root device) or device path, or
// found: the partition whose filesystem has the path's first directory.
// The filesystem type is detected from its superblock and mounted with
// mount(2); files are written atomically with their mode and owner, and
// symlinks on the instance's filesystem resolve inside it.
package inject

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/image/download"
)

// RootDevice returns the node's root device (the deploy target).
type RootDevice func(ctx context.Context) (string, error)

// Options is what the step needs from the agent.
type Options struct {
	RootDevice RootDevice
	// Download carries the agent's TLS settings and image download
	// timeouts and retries, used for URL content; verify_ca false turns
	// certificate checks off for the step.
	Download download.Options
	// SysfsRoot and DevRoot default to /sys and /dev.
	SysfsRoot, DevRoot string
	// MountDir is where partitions are mounted; os.TempDir() when empty.
	MountDir string
	Log      *slog.Logger
}

// Result says what was done to one file.
type Result struct {
	Path   string `json:"path"`
	Device string `json:"device"`
	Action string `json:"action"` // written or deleted
}

// Inject writes or deletes files (already validated by ParseFiles) on the
// node's root device. Each file's partition is mounted for it alone, as
// in IPA. It stops at the first failure. node and ports are the objects
// the conductor sent, for the URL templates.
func Inject(ctx context.Context, files []File, node map[string]any, ports []map[string]any, verifyCA bool, o Options) ([]Result, error) {
	if len(files) == 0 {
		o.log().Info("no files to inject")
		return nil, nil
	}
	root, err := o.RootDevice(ctx)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, f := range files {
		r, err := o.injectOne(ctx, f, root, node, ports, verifyCA)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (o Options) injectOne(ctx context.Context, f File, root string, node map[string]any, ports []map[string]any, verifyCA bool) (Result, error) {
	res := Result{Path: f.Path, Action: "written"}
	if f.Deleted {
		res.Action = "deleted"
	}
	rel := relPath(f.Path)
	var m *mounted
	var err error
	if f.Partition != "" {
		dev, err := partitionDevice(o.sysfs(), o.devRoot(), root, f.Partition)
		if err != nil {
			return res, err
		}
		if m, err = mount(dev, o.MountDir); err != nil {
			return res, err
		}
	} else if m, err = o.findPartition(root, strings.SplitN(rel, "/", 2)[0]); err != nil {
		return res, err
	}
	res.Device = m.dev
	log := o.log().With("path", f.Path, "device", m.dev)
	err = o.apply(ctx, m, rel, f, node, ports, verifyCA)
	if uerr := m.unmount(); uerr != nil {
		// A still-mounted directory is left in place, never removed.
		log.Warn("leaving a temporary mount behind", "error", uerr)
	}
	if err != nil {
		return res, fmt.Errorf("failed to process file %s on %s: %w", f.Path, m.dev, err)
	}
	log.Info("injected file", "action", res.Action, "filesystem", m.fstype)
	return res, nil
}

func (o Options) apply(ctx context.Context, m *mounted, rel string, f File, node map[string]any, ports []map[string]any, verifyCA bool) error {
	rootDir, err := os.Open(m.dir)
	if err != nil {
		return err
	}
	defer rootDir.Close()
	if f.Deleted {
		return removeFile(rootDir, rel)
	}
	var content io.Reader
	if f.IsURL() {
		u, err := expandURL(f.Content, node, ports)
		if err != nil {
			return err
		}
		s, err := o.open(ctx, u, verifyCA)
		if err != nil {
			return err
		}
		defer s.Close()
		content = s
	} else {
		b, err := decodeBase64(f.Content)
		if err != nil {
			return err // ParseFiles checked it already
		}
		content = strings.NewReader(string(b))
	}
	return writeFile(ctx, rootDir, rel, f, content)
}

// open starts downloading URL content with the agent's download settings.
func (o Options) open(ctx context.Context, u string, verifyCA bool) (io.ReadCloser, error) {
	d := o.Download
	d.URLs = []string{u}
	d.Logger = o.log()
	if !verifyCA {
		if d.TLS != nil {
			d.TLS = d.TLS.Clone()
		} else {
			d.TLS = &tls.Config{}
		}
		d.TLS.InsecureSkipVerify = true
	}
	s, err := download.Open(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("unable to read data from %s: %w", u, err)
	}
	return s, nil
}

// findPartition mounts the first partition of root (by number; root
// itself if it has none) whose filesystem has the directory dir, as IPA's
// find_partition_with_path. Partitions without a filesystem the agent can
// mount (LVM, swap, a BIOS boot partition) are passed over.
func (o Options) findPartition(root, dir string) (*mounted, error) {
	parts, err := partitions(o.sysfs(), o.devRoot(), root)
	if err != nil {
		return nil, err
	}
	cands := make([]string, 0, len(parts))
	for _, p := range parts {
		cands = append(cands, p.dev)
	}
	if len(cands) == 0 {
		cands = []string{root}
	}
	for _, dev := range cands {
		m, err := mount(dev, o.MountDir)
		if err != nil {
			o.log().Debug("partition not searched", "device", dev, "error", err)
			continue
		}
		if found, err := hasDir(m.dir, dir); found {
			o.log().Info("path found on partition", "dir", "/"+dir, "device", dev)
			return m, nil
		} else if err != nil {
			o.log().Warn("cannot look into partition", "device", dev, "error", err)
		}
		if err := m.unmount(); err != nil {
			o.log().Warn("leaving a temporary mount behind", "error", err)
		}
	}
	return nil, fmt.Errorf("%w: no partition of %s has /%s (scanned %s)", ErrNoPartition, root, dir, strings.Join(cands, ", "))
}

// hasDir reports whether dir (one component) is a directory at the root of
// the filesystem mounted on mnt, following its symlinks inside it.
func hasDir(mnt, dir string) (bool, error) {
	r, err := os.Open(mnt)
	if err != nil {
		return false, err
	}
	defer r.Close()
	fd, err := openInRoot(r, path.Clean(dir), unix.O_PATH|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	unix.Close(fd)
	return true, nil
}

func (o Options) log() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}

func (o Options) sysfs() string   { return orDefault(o.SysfsRoot, "/sys") }
func (o Options) devRoot() string { return orDefault(o.DevRoot, "/dev") }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
