package mdadm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/internal/runner"
	"github.com/goipa/goipa/tstest/runnertest"
)

// newTool returns a Tool whose /dev, /proc, /sys and /run/mdadm live in a
// temporary directory, with an empty /proc/mdstat.
func newTool(t *testing.T, f *runnertest.Fake) (*Tool, string) {
	t.Helper()
	root := t.TempDir()
	tool := &Tool{Runner: f, DevDir: filepath.Join(root, "dev"), ProcDir: filepath.Join(root, "proc"),
		SysDir: filepath.Join(root, "sys"), RunDir: filepath.Join(root, "run", "mdadm"), Poll: time.Millisecond}
	for _, d := range []string{tool.DevDir, tool.ProcDir, tool.SysDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeMDStat(t, tool, "mdstat-empty.txt")
	return tool, root
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeMDStat(t *testing.T, tool *Tool, name string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(tool.ProcDir, "mdstat"), []byte(fixture(t, name)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func exitErr(args, stderr string, code int) error {
	return &runner.ExitError{Cmd: runner.Command("mdadm", strings.Fields(args)...), ExitCode: code, Stderr: stderr}
}

func TestCreate(t *testing.T) {
	tests := []struct {
		name string
		opts CreateOptions
		want string
	}{
		{"raid1 by path", CreateOptions{Device: "/dev/md/root", Level: "1", Name: "root", Members: []string{"/dev/vda2", "/dev/vdb2"}},
			"mdadm --create /dev/md/root --run --force --metadata=1.2 --homehost=any --level=1 --name=root --raid-devices=2 /dev/vda2 /dev/vdb2"},
		{"1+0 is 10", CreateOptions{Device: "/dev/md0", Level: "1+0", Name: "data", Members: []string{"/dev/sda3", "/dev/sdb3", "/dev/sdc3", "/dev/sdd3"}},
			"mdadm --create /dev/md0 --run --force --metadata=1.2 --homehost=any --level=10 --name=data --raid-devices=4 /dev/sda3 /dev/sdb3 /dev/sdc3 /dev/sdd3"},
		{"esp metadata 1.0, assume clean", CreateOptions{Device: "/dev/md/esp", Level: "1", Name: "esp", Metadata: "1.0", AssumeClean: true, Members: []string{"/dev/nvme0n1p1", "/dev/nvme1n1p1"}},
			"mdadm --create /dev/md/esp --run --force --metadata=1.0 --homehost=any --level=1 --name=esp --raid-devices=2 --assume-clean /dev/nvme0n1p1 /dev/nvme1n1p1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &runnertest.Fake{Default: &runnertest.Response{}}
			tool, _ := newTool(t, f)
			if err := tool.Create(context.Background(), tt.opts); err != nil {
				t.Fatal(err)
			}
			if got := f.Argvs(); !slices.Equal(got, []string{tt.want}) {
				t.Errorf("argv\n got %q\nwant %q", got, tt.want)
			}
			if !slices.Equal(f.Calls[0].Env, []string{"MDADM_NO_UDEV=1"}) {
				t.Errorf("env = %q, want MDADM_NO_UDEV=1", f.Calls[0].Env)
			}
			if fi, err := os.Stat(tool.RunDir); err != nil || !fi.IsDir() {
				t.Errorf("%s not created before mdadm ran: %v", tool.RunDir, err)
			}
		})
	}
}

func TestCreateBareNameUsesDevDir(t *testing.T) {
	f := &runnertest.Fake{Default: &runnertest.Response{}}
	tool, _ := newTool(t, f)
	if err := tool.Create(context.Background(), CreateOptions{Device: "root", Level: "0", Name: "root", Members: []string{"/dev/a1", "/dev/b1"}}); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(tool.DevDir, "md", "root"); f.Calls[0].Args[1] != want {
		t.Errorf("device = %q, want %q", f.Calls[0].Args[1], want)
	}
}

func TestCreateRefusesBadInput(t *testing.T) {
	tests := []struct {
		name string
		opts CreateOptions
		want string
	}{
		{"level", CreateOptions{Device: "/dev/md0", Level: "5+0", Members: []string{"/dev/a", "/dev/b"}}, `unsupported RAID level: "5+0"`},
		{"members", CreateOptions{Device: "/dev/md0", Level: "1"}, "no member devices"},
		{"metadata", CreateOptions{Device: "/dev/md0", Level: "1", Metadata: "0.90", Members: []string{"/dev/a", "/dev/b"}}, `metadata "0.90"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &runnertest.Fake{Default: &runnertest.Response{}}
			tool, _ := newTool(t, f)
			err := tool.Create(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if len(f.Calls) != 0 {
				t.Errorf("mdadm ran: %q", f.Argvs())
			}
		})
	}
}

func TestCreateFailureKeepsStderr(t *testing.T) {
	stderr := "mdadm: super1.x cannot open /dev/vda2: Device or resource busy\nmdadm: /dev/vda2 is not suitable for this array.\nmdadm: create aborted\n"
	f := &runnertest.Fake{Default: &runnertest.Response{Err: exitErr("--create", stderr, 1)}}
	tool, _ := newTool(t, f)
	err := tool.Create(context.Background(), CreateOptions{Device: "/dev/md/bad", Level: "1", Name: "bad", Members: []string{"/dev/vda2", "/dev/vdb2"}})
	if err == nil || !strings.Contains(err.Error(), "Device or resource busy") {
		t.Fatalf("err = %v, want mdadm's reason", err)
	}
}

// link makes <DevDir>/md/<name> point at <DevDir>/<target>, as mdadm does.
func link(t *testing.T, tool *Tool, name, target string) string {
	t.Helper()
	dir := filepath.Join(tool.DevDir, "md")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tgt := filepath.Join(tool.DevDir, target)
	if err := os.WriteFile(tgt, nil, 0o644); err != nil && !errors.Is(err, os.ErrExist) {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.Symlink(tgt, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

func TestStopRemovesItsNameOnly(t *testing.T) {
	f := &runnertest.Fake{Default: &runnertest.Response{}}
	tool, _ := newTool(t, f)
	root := link(t, tool, "root", "md127")
	esp := link(t, tool, "esp", "md126")
	if err := tool.Stop(context.Background(), "root"); err != nil {
		t.Fatal(err)
	}
	if want := "mdadm --stop " + root; f.Argvs()[0] != want {
		t.Errorf("argv %q, want %q", f.Argvs()[0], want)
	}
	if exists(root) {
		t.Error("stale /dev/md/root left behind")
	}
	if !exists(esp) {
		t.Error("/dev/md/esp of another array removed")
	}

	// Stopping by kernel name removes the links pointing at it too.
	if err := tool.Stop(context.Background(), filepath.Join(tool.DevDir, "md126")); err != nil {
		t.Fatal(err)
	}
	if exists(esp) {
		t.Error("stale /dev/md/esp left behind after stopping md126")
	}
}

func TestStopFailureKeepsLink(t *testing.T) {
	f := &runnertest.Fake{Default: &runnertest.Response{Err: exitErr("--stop", "mdadm: Cannot get exclusive access to /dev/md127:Perhaps a running process, mounted filesystem or active volume group?\n", 1)}}
	tool, _ := newTool(t, f)
	root := link(t, tool, "root", "md127")
	if err := tool.Stop(context.Background(), "root"); err == nil || !strings.Contains(err.Error(), "exclusive access") {
		t.Fatalf("err = %v", err)
	}
	if !exists(root) {
		t.Error("link of a still running array removed")
	}
}

func TestAssembleScan(t *testing.T) {
	f := &runnertest.Fake{Default: &runnertest.Response{}}
	tool, _ := newTool(t, f)
	writeMDStat(t, tool, "mdstat-degraded.txt") // md127 runs
	live := link(t, tool, "deg", "md127")
	stale := link(t, tool, "root", "md126")
	if err := tool.AssembleScan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"mdadm --assemble --scan --run"}; !slices.Equal(f.Argvs(), want) {
		t.Errorf("argv %q, want %q", f.Argvs(), want)
	}
	if exists(stale) {
		t.Error("stale /dev/md/root would make mdadm assemble it under another number")
	}
	if !exists(live) {
		t.Error("link of a running array removed")
	}
}

func TestAssembleScanErrors(t *testing.T) {
	tests := []struct {
		stderr  string
		wantErr bool
	}{
		{"mdadm: No arrays found in config file or automatically\n", false},
		{"mdadm: /dev/md/root assembled from 1 drive - not enough to start the array.\n", true},
	}
	for _, tt := range tests {
		f := &runnertest.Fake{Default: &runnertest.Response{Err: exitErr("--assemble --scan --run", tt.stderr, 1)}}
		tool, _ := newTool(t, f)
		if err := tool.AssembleScan(context.Background()); (err != nil) != tt.wantErr {
			t.Errorf("%q: err = %v, want error %v", tt.stderr, err, tt.wantErr)
		}
	}
}

func TestZeroSuperblock(t *testing.T) {
	f := &runnertest.Fake{Responses: map[string]runnertest.Response{
		"mdadm --zero-superblock /dev/vda2": {},
		// mdadm 4.2 exits 0 here; newer versions exit 1.
		"mdadm --zero-superblock /dev/vda":  {Err: exitErr("--zero-superblock /dev/vda", "mdadm: Unrecognised md component device - /dev/vda\n", 1)},
		"mdadm --zero-superblock /dev/vdb2": {Err: exitErr("--zero-superblock /dev/vdb2", "mdadm: Couldn't open /dev/vdb2 for write - not zeroing\n", 2)},
	}}
	tool, _ := newTool(t, f)
	if err := tool.ZeroSuperblock(context.Background(), "/dev/vda2", "/dev/vda"); err != nil {
		t.Fatalf("no superblock must not be an error: %v", err)
	}
	err := tool.ZeroSuperblock(context.Background(), "/dev/vdb2", "/dev/vdc2")
	if err == nil || !strings.Contains(err.Error(), "not zeroing") {
		t.Fatalf("err = %v, want the busy member reported", err)
	}
	if got := f.Argvs(); len(got) != 3 {
		t.Errorf("continued after a failure: %q", got)
	}
}

func TestExamine(t *testing.T) {
	f := &runnertest.Fake{Responses: map[string]runnertest.Response{
		"mdadm --examine --export /dev/vda2": {Stdout: fixture(t, "examine-export.txt")},
		"mdadm --examine --export /dev/vda":  {}, // a GPT disk: rc 0, nothing printed
		"mdadm --examine --export /dev/vdc2": {Err: exitErr("--examine", "mdadm: No md superblock detected on /dev/vdc2.\n", 1)},
		"mdadm --examine --export /dev/vdx":  {Err: exitErr("--examine", "mdadm: cannot open /dev/vdx: No such file or directory\n", 1)},
	}}
	tool, _ := newTool(t, f)
	sb, err := tool.Examine(context.Background(), "/dev/vda2")
	if err != nil {
		t.Fatal(err)
	}
	want := Superblock{Level: "raid1", Devices: 2, Name: "any:root", UUID: "0b5333bd:64e32a62:a17ddb69:8f324ed2", DevUUID: "c81de060:3664b614:200f66d3:e4173f07"}
	if *sb != want {
		t.Errorf("got %+v, want %+v", *sb, want)
	}
	for _, dev := range []string{"/dev/vda", "/dev/vdc2"} {
		if _, err := tool.Examine(context.Background(), dev); !errors.Is(err, ErrNoSuperblock) {
			t.Errorf("%s: err = %v, want ErrNoSuperblock", dev, err)
		}
	}
	if _, err := tool.Examine(context.Background(), "/dev/vdx"); err == nil || errors.Is(err, ErrNoSuperblock) {
		t.Errorf("missing device: err = %v, want a failure that is not ErrNoSuperblock", err)
	}
}

func TestDetail(t *testing.T) {
	tests := []struct {
		file    string
		level   string
		devs    int
		meta    string
		devname string
		members []Member
	}{
		{"detail-raid1-resync.txt", "raid1", 2, "1.2", "root", []Member{{"/dev/vda2", "0"}, {"/dev/vdb2", "1"}}},
		{"detail-esp-1.0.txt", "raid1", 2, "1.0", "esp", []Member{{"/dev/vda1", "0"}, {"/dev/vdb1", "1"}}},
		{"detail-raid0.txt", "raid0", 2, "1.2", "r0", []Member{{"/dev/vda1", "0"}, {"/dev/vdb1", "1"}}},
		{"detail-raid5.txt", "raid5", 3, "1.2", "r5", []Member{{"/dev/vda2", "0"}, {"/dev/vdb2", "1"}, {"/dev/vdc2", "2"}}},
		{"detail-raid6.txt", "raid6", 4, "1.2", "r6", []Member{{"/dev/vda2", "0"}, {"/dev/vdb2", "1"}, {"/dev/vdc2", "2"}, {"/dev/vdd2", "3"}}},
		{"detail-raid10.txt", "raid10", 4, "1.2", "r10", []Member{{"/dev/vda2", "0"}, {"/dev/vdb2", "1"}, {"/dev/vdc2", "2"}, {"/dev/vdd2", "3"}}},
		{"detail-degraded.txt", "raid1", 2, "1.2", "deg", []Member{{"/dev/vda2", "0"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := &runnertest.Fake{Default: &runnertest.Response{Stdout: fixture(t, tt.file)}}
			tool, _ := newTool(t, f)
			d, err := tool.Detail(context.Background(), "/dev/md/x")
			if err != nil {
				t.Fatal(err)
			}
			if d.Level != tt.level || d.Devices != tt.devs || d.Metadata != tt.meta || d.DevName != tt.devname || d.Name != "any:"+tt.devname || len(d.UUID) != 35 {
				t.Errorf("got %+v", d)
			}
			if !slices.Equal(d.Members, tt.members) {
				t.Errorf("members %v, want %v", d.Members, tt.members)
			}
			if want := "mdadm --detail --export /dev/md/x"; f.Argvs()[0] != want {
				t.Errorf("argv %q", f.Argvs()[0])
			}
		})
	}
}

func TestDetailSpareAfterSlots(t *testing.T) {
	d, err := parseDetail([]byte("MD_LEVEL=raid1\nMD_DEVICES=2\nMD_UUID=a:b:c:d\nMD_DEVICE_dev_sdc1_ROLE=spare\nMD_DEVICE_dev_sdc1_DEV=/dev/sdc1\nMD_DEVICE_dev_sdb1_ROLE=1\nMD_DEVICE_dev_sdb1_DEV=/dev/sdb1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []Member{{"/dev/sdb1", "1"}, {"/dev/sdc1", "spare"}}; !slices.Equal(d.Members, want) {
		t.Errorf("members %v, want %v", d.Members, want)
	}
}

func TestDetailErrors(t *testing.T) {
	f := &runnertest.Fake{Responses: map[string]runnertest.Response{
		"mdadm --detail --export /dev/vda":   {Err: exitErr("--detail", "mdadm: /dev/vda does not appear to be an md device\n", 1)},
		"mdadm --detail --export /dev/md100": {Err: exitErr("--detail", "mdadm: cannot open /dev/md100: No such file or directory\n", 1)},
		"mdadm --detail --export /dev/md1":   {Stdout: "garbage\n"},
	}}
	tool, _ := newTool(t, f)
	if _, err := tool.Detail(context.Background(), "/dev/vda"); !errors.Is(err, ErrNotMD) {
		t.Errorf("err = %v, want ErrNotMD", err)
	}
	if _, err := tool.Detail(context.Background(), "/dev/md100"); err == nil || !strings.Contains(err.Error(), "No such file") {
		t.Errorf("err = %v", err)
	}
	if _, err := tool.Detail(context.Background(), "/dev/md1"); err == nil {
		t.Error("garbage output accepted")
	}
}

func TestArrays(t *testing.T) {
	type arr struct {
		name, level, state string
		members            int
	}
	tests := []struct {
		file string
		want []arr
	}{
		{"mdstat-empty.txt", nil},
		{"mdstat-raid1-resync.txt", []arr{{"md126", "raid1", "resyncing", 2}, {"md127", "raid1", "resyncing", 2}}},
		{"mdstat-raid5.txt", []arr{{"md125", "raid5", "resyncing", 3}}},
		{"mdstat-raid10-raid0.txt", []arr{{"md123", "raid0", "active", 2}, {"md124", "raid10", "resyncing", 4}}},
		{"mdstat-raid6-synced.txt", []arr{{"md122", "raid6", "active", 4}}},
		{"mdstat-degraded.txt", []arr{{"md127", "raid1", "active", 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			tool, _ := newTool(t, &runnertest.Fake{})
			writeMDStat(t, tool, tt.file)
			got, err := tool.Arrays()
			if err != nil {
				t.Fatal(err)
			}
			var g []arr
			for _, a := range got {
				g = append(g, arr{a.Name, a.Type, a.ActivityState, len(a.Devices)})
			}
			if !slices.Equal(g, tt.want) {
				t.Errorf("got %v, want %v", g, tt.want)
			}
		})
	}
}

func TestArraysWithoutMDDriver(t *testing.T) {
	tool, _ := newTool(t, &runnertest.Fake{})
	os.Remove(filepath.Join(tool.ProcDir, "mdstat"))
	got, err := tool.Arrays()
	if err != nil || got != nil {
		t.Errorf("got %v, %v; want no arrays and no error", got, err)
	}
}

func TestWaitSync(t *testing.T) {
	tool, _ := newTool(t, &runnertest.Fake{})
	link(t, tool, "root", "md127")
	action := filepath.Join(tool.SysDir, "block", "md127", "md", "sync_action")
	if err := os.MkdirAll(filepath.Dir(action), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(action, []byte("resync\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := tool.WaitSync(ctx, "root"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("returned during resync: %v", err)
	}

	done := make(chan error, 1)
	go func() { done <- tool.WaitSync(context.Background(), "root") }()
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("returned during resync: %v", err)
	default:
	}
	if err := os.WriteFile(action, []byte("idle\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still waiting after the resync finished")
	}
}

func TestWaitSyncFromMDStat(t *testing.T) {
	tests := []struct {
		file, target string
		busy         bool
	}{
		{"mdstat-raid10-raid0.txt", "md123", false}, // raid0: no sync_action at all
		{"mdstat-raid1-resync.txt", "md126", true},  // resync=DELAYED
		{"mdstat-raid6-synced.txt", "md122", false},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.target, func(t *testing.T) {
			tool, _ := newTool(t, &runnertest.Fake{})
			writeMDStat(t, tool, tt.file)
			link(t, tool, "v", tt.target)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancel()
			err := tool.WaitSync(ctx, "v")
			if busy := errors.Is(err, context.DeadlineExceeded); busy != tt.busy || (!busy && err != nil) {
				t.Errorf("err = %v, want busy=%v", err, tt.busy)
			}
		})
	}
	tool, _ := newTool(t, &runnertest.Fake{})
	link(t, tool, "gone", "md99")
	if err := tool.WaitSync(context.Background(), "gone"); !errors.Is(err, ErrNotMD) {
		t.Errorf("unknown array: err = %v, want ErrNotMD", err)
	}
}

func TestMDLevel(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "1": "1", "1+0": "10", "10": "10", "5": "5", "6": "6"} {
		if got, err := MDLevel(in); err != nil || got != want {
			t.Errorf("MDLevel(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "2", "5+0", "6+0", "JBOD", "raid1"} {
		if _, err := MDLevel(in); !errors.Is(err, ErrLevel) {
			t.Errorf("MDLevel(%q) err = %v, want ErrLevel", in, err)
		}
	}
}
