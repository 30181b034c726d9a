// Package mdadm drives Linux software RAID through the mdadm program in a
// ramdisk without udev: every call gets MDADM_NO_UDEV=1 (mdadm creates the
// /dev nodes itself), /run/mdadm is created first (mdadm keeps its map file
// there) and stale /dev/md/<name> links, which nothing removes without udev,
// are cleaned up so a later create or assemble gets the name it asks for.
package mdadm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/goipa/goipa/internal/runner"
)

// Sentinel errors.
var (
	// ErrNoSuperblock: the device carries no md superblock.
	ErrNoSuperblock = errors.New("no md superblock")
	// ErrLevel: a RAID level mdadm is not asked to build.
	ErrLevel = errors.New("unsupported RAID level")
	// ErrNotMD: the device is not an active md array.
	ErrNotMD = errors.New("not an md array")
)

// Tool runs mdadm. The zero value is not usable; use New.
type Tool struct {
	Runner runner.Runner
	// DevDir is where device nodes live ("/dev"); tests point it elsewhere.
	DevDir string
	// ProcDir and SysDir are the procfs and sysfs mount points.
	ProcDir string
	SysDir  string
	// RunDir is mdadm's map directory ("/run/mdadm").
	RunDir string
	// Poll is the WaitSync polling interval.
	Poll time.Duration
}

// New returns a Tool for this machine.
func New(r runner.Runner) *Tool {
	return &Tool{Runner: r, DevDir: "/dev", ProcDir: "/proc", SysDir: "/sys", RunDir: "/run/mdadm", Poll: time.Second}
}

func (t *Tool) run(ctx context.Context, args ...string) ([]byte, error) {
	// Without /run/mdadm mdadm still works but warns about the map file
	// lock and keeps no map, which --assemble --scan and --stop consult.
	if err := os.MkdirAll(t.RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("mdadm: %w", err)
	}
	return t.Runner.Run(ctx, runner.Cmd{Name: "mdadm", Args: args, Env: []string{"MDADM_NO_UDEV=1"}})
}

// stderrOf returns the stderr of a failed mdadm run, or "".
func stderrOf(err error) string {
	var ee *runner.ExitError
	if errors.As(err, &ee) {
		return ee.Stderr
	}
	return ""
}

// MDLevel maps an Ironic raid_level ("0", "1", "1+0", "5", "6") or an mdadm
// level to the level mdadm takes.
func MDLevel(level string) (string, error) {
	switch level {
	case "0", "1", "5", "6", "10":
		return level, nil
	case "1+0":
		return "10", nil
	}
	return "", fmt.Errorf("%w: %q", ErrLevel, level)
}

// Path returns the device path for an array given as a path or a name:
// "/dev/md0" stays, "root" becomes <DevDir>/md/root.
func (t *Tool) Path(dev string) string {
	if strings.HasPrefix(dev, "/") {
		return dev
	}
	return filepath.Join(t.DevDir, "md", dev)
}

// CreateOptions describe one array.
type CreateOptions struct {
	// Device is "/dev/mdN", "/dev/md/<name>" or a bare name (→ /dev/md/<name>).
	Device   string
	Level    string // "0", "1", "1+0"/"10", "5", "6"
	Name     string // array name; mdadm records it as any:<Name>
	Metadata string // "1.2" (default) or "1.0" (superblock at the end: firmware reads an ESP member as plain FAT)
	Members  []string
	// AssumeClean skips the initial resync.
	AssumeClean bool
}

// Create builds and starts an array. --run and --force answer the prompts
// mdadm would otherwise put to a missing tty; --homehost=any keeps the name
// free of the ramdisk's hostname, so the installed OS assembles it by name.
func (t *Tool) Create(ctx context.Context, o CreateOptions) error {
	level, err := MDLevel(o.Level)
	if err != nil {
		return err
	}
	if len(o.Members) == 0 {
		return fmt.Errorf("mdadm create %s: no member devices", o.Device)
	}
	meta := o.Metadata
	if meta == "" {
		meta = "1.2"
	}
	if meta != "1.2" && meta != "1.0" {
		return fmt.Errorf("mdadm create %s: metadata %q is not 1.2 or 1.0", o.Device, meta)
	}
	if err := t.RemoveStaleNames(); err != nil {
		return err
	}
	dev := t.Path(o.Device)
	args := []string{"--create", dev, "--run", "--force", "--metadata=" + meta, "--homehost=any",
		"--level=" + level, "--name=" + o.Name, "--raid-devices=" + strconv.Itoa(len(o.Members))}
	if o.AssumeClean {
		args = append(args, "--assume-clean")
	}
	if _, err := t.run(ctx, append(args, o.Members...)...); err != nil {
		return fmt.Errorf("mdadm create %s: %w", dev, err)
	}
	return nil
}

// Add adds a member to a running array.
func (t *Tool) Add(ctx context.Context, array, member string) error {
	if _, err := t.run(ctx, "--add", t.Path(array), member); err != nil {
		return fmt.Errorf("mdadm add %s to %s: %w", member, array, err)
	}
	return nil
}

// Stop stops an array and removes the /dev/md/<name> links pointing at it:
// without udev they would outlive the array and make the next assemble
// of that name fall back to another number.
func (t *Tool) Stop(ctx context.Context, array string) error {
	dev := t.Path(array)
	target, err := filepath.EvalSymlinks(dev)
	if err != nil {
		target = dev
	}
	if _, err := t.run(ctx, "--stop", dev); err != nil {
		return fmt.Errorf("mdadm stop %s: %w", dev, err)
	}
	return t.removeLinks(func(to string) bool { return to == target })
}

// RemoveStaleNames removes /dev/md/<name> links whose array is not running.
func (t *Tool) RemoveStaleNames() error {
	active := map[string]bool{}
	arrays, err := t.Arrays()
	if err != nil {
		return err
	}
	for _, a := range arrays {
		active[a.Name] = true
	}
	return t.removeLinks(func(to string) bool { return !active[filepath.Base(to)] })
}

// removeLinks removes the links in <DevDir>/md whose resolved target
// satisfies stale.
func (t *Tool) removeLinks(stale func(target string) bool) error {
	dir := filepath.Join(t.DevDir, "md")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mdadm: %w", err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		to, err := os.Readlink(p)
		if err != nil {
			continue // not a link: mdadm never makes anything else here
		}
		if !filepath.IsAbs(to) {
			to = filepath.Join(dir, to)
		}
		if stale(filepath.Clean(to)) {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("mdadm: removing stale %s: %w", p, err)
			}
		}
	}
	return nil
}

// ZeroSuperblock erases the md superblock of each device. A device without
// one is fine (mdadm 4.2 says "Unrecognised md component device" and exits 0;
// other versions exit 1 with the same words).
func (t *Tool) ZeroSuperblock(ctx context.Context, devs ...string) error {
	for _, d := range devs {
		_, err := t.run(ctx, "--zero-superblock", d)
		if err != nil && !strings.Contains(stderrOf(err), "Unrecognised md component device") {
			return fmt.Errorf("mdadm zero-superblock %s: %w", d, err)
		}
	}
	return nil
}

// AssembleScan starts every array whose members are visible in
// /proc/partitions (no mdadm.conf needed), degraded ones included. Finding
// none is not an error.
func (t *Tool) AssembleScan(ctx context.Context) error {
	if err := t.RemoveStaleNames(); err != nil {
		return err
	}
	_, err := t.run(ctx, "--assemble", "--scan", "--run")
	if err != nil && !strings.Contains(stderrOf(err), "No arrays found") {
		return fmt.Errorf("mdadm assemble: %w", err)
	}
	return nil
}
