package raid

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/goipa/goipa/internal/runner"
	"github.com/goipa/goipa/raid/mdadm"
)

// mdSim is a fake mdadm: it records argv and keeps /proc/mdstat, the
// /dev/md/<name> links and sysfs sizes the way the real one does.
type mdSim struct {
	mu     sync.Mutex
	t      *testing.T
	tool   *mdadm.Tool
	argv   []string
	next   int
	arrays map[string]*simArray // md name → array
	sb     map[string]bool      // devices holding a superblock
}

type simArray struct {
	kernel, level string
	members       []string
}

func newSim(t *testing.T) *mdSim {
	root := t.TempDir()
	s := &mdSim{t: t, next: 127, arrays: map[string]*simArray{}, sb: map[string]bool{}}
	s.tool = &mdadm.Tool{Runner: s, DevDir: filepath.Join(root, "dev"), ProcDir: filepath.Join(root, "proc"),
		SysDir: filepath.Join(root, "sys"), RunDir: filepath.Join(root, "run", "mdadm"), Poll: time.Millisecond}
	for _, d := range []string{s.tool.DevDir, s.tool.ProcDir, s.tool.SysDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s.writeMDStat()
	return s
}

func (s *mdSim) short(p string) string { return strings.TrimPrefix(p, s.tool.DevDir+"/") }

func (s *mdSim) writeMDStat() {
	var b strings.Builder
	b.WriteString("Personalities : [raid0] [raid1] [raid10] [raid6] [raid5] [raid4] \n")
	for _, a := range s.arrays {
		fmt.Fprintf(&b, "%s : active raid%s", a.kernel, a.level)
		for i, m := range a.members {
			fmt.Fprintf(&b, " %s[%d]", filepath.Base(m), i)
		}
		n := len(a.members)
		fmt.Fprintf(&b, "\n      1000 blocks super 1.2 [%d/%d] [%s]\n      \n", n, n, strings.Repeat("U", n))
	}
	b.WriteString("unused devices: <none>\n")
	if err := os.WriteFile(filepath.Join(s.tool.ProcDir, "mdstat"), []byte(b.String()), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func fail(c runner.Cmd, stderr string) error {
	return &runner.ExitError{Cmd: c, ExitCode: 1, Stderr: stderr}
}

func (s *mdSim) Run(_ context.Context, c runner.Cmd) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = s.short(a)
	}
	s.argv = append(s.argv, c.Name+" "+strings.Join(args, " "))
	a := c.Args
	switch a[0] {
	case "--create":
		name := filepath.Base(a[1])
		level := strings.TrimPrefix(a[6], "--level=")
		kernel := fmt.Sprintf("md%d", s.next)
		s.next--
		members := a[9:]
		s.arrays[name] = &simArray{kernel: kernel, level: level, members: members}
		for _, m := range members {
			s.sb[m] = true
		}
		os.MkdirAll(filepath.Join(s.tool.DevDir, "md"), 0o755)
		os.WriteFile(filepath.Join(s.tool.DevDir, kernel), nil, 0o644)
		os.Symlink(filepath.Join(s.tool.DevDir, kernel), filepath.Join(s.tool.DevDir, "md", name))
		os.MkdirAll(filepath.Join(s.tool.SysDir, "block", kernel, "md"), 0o755)
		os.WriteFile(filepath.Join(s.tool.SysDir, "block", kernel, "size"), []byte("1099511627776\n"), 0o644)
		s.writeMDStat()
		return nil, nil
	case "--detail":
		name := filepath.Base(a[2])
		arr := s.arrays[name]
		if arr == nil {
			return nil, fail(c, "mdadm: cannot open "+a[2]+": No such file or directory\n")
		}
		out := fmt.Sprintf("MD_LEVEL=raid%s\nMD_DEVICES=%d\nMD_METADATA=1.2\nMD_UUID=0b5333bd:64e32a62:a17ddb69:8f324ed2\nMD_DEVNAME=%s\nMD_NAME=any:%s\n", arr.level, len(arr.members), name, name)
		for i, m := range arr.members {
			k := strings.ReplaceAll(strings.TrimPrefix(m, "/"), "/", "_")
			out += fmt.Sprintf("MD_DEVICE_%s_ROLE=%d\nMD_DEVICE_%s_DEV=%s\n", k, i, k, m)
		}
		return []byte(out), nil
	case "--examine":
		if s.sb[a[2]] {
			return []byte("MD_LEVEL=raid1\nMD_DEVICES=2\nMD_UUID=0b5333bd:64e32a62:a17ddb69:8f324ed2\n"), nil
		}
		return nil, fail(c, "mdadm: No md superblock detected on "+a[2]+".\n")
	case "--stop":
		for name, arr := range s.arrays {
			if filepath.Join(s.tool.DevDir, arr.kernel) == a[1] || filepath.Join(s.tool.DevDir, "md", name) == a[1] {
				delete(s.arrays, name)
				s.writeMDStat()
				return nil, nil
			}
		}
		return nil, fail(c, "mdadm: error opening "+a[1]+": No such file or directory\n")
	case "--zero-superblock":
		if !s.sb[a[1]] {
			return nil, fail(c, "mdadm: Unrecognised md component device - "+a[1]+"\n")
		}
		delete(s.sb, a[1])
		return nil, nil
	case "--assemble":
		if len(s.arrays) == 0 {
			return nil, fail(c, "mdadm: No arrays found in config file or automatically\n")
		}
		return nil, nil
	}
	return nil, fmt.Errorf("mdSim: unexpected %q", c.Args)
}

// disks makes sparse files standing in for disks under the fake /dev.
func (s *mdSim) disks(names ...string) []Device {
	var ds []Device
	for _, n := range names {
		p := filepath.Join(s.tool.DevDir, n)
		f, err := os.Create(p)
		if err != nil {
			s.t.Fatal(err)
		}
		if err := f.Truncate(8 * GiB); err != nil {
			s.t.Fatal(err)
		}
		f.Close()
		ds = append(ds, Device{Path: p, Size: 8 * GiB, LogicalSectorSize: 512})
	}
	return ds
}

// kernelParts records what the kernel was told and mirrors it in sysfs.
func (s *mdSim) kernelParts(calls *[]string) func(Device, []Partition) error {
	return func(d Device, parts []Partition) error {
		name := filepath.Base(d.Path)
		dir := filepath.Join(s.tool.SysDir, "class", "block", name)
		os.RemoveAll(dir)
		var nums []string
		for _, p := range parts {
			pd := filepath.Join(dir, filepath.Base(p.Path))
			os.MkdirAll(pd, 0o755)
			os.WriteFile(filepath.Join(pd, "partition"), []byte(fmt.Sprintf("%d\n", p.Number)), 0o644)
			os.WriteFile(filepath.Join(pd, "start"), []byte(fmt.Sprintf("%d\n", p.Start/512)), 0o644)
			os.WriteFile(filepath.Join(pd, "size"), []byte(fmt.Sprintf("%d\n", p.Size/512)), 0o644)
			os.WriteFile(p.Path, nil, 0o644)
			nums = append(nums, fmt.Sprint(p.Number))
		}
		*calls = append(*calls, name+":"+strings.Join(nums, ","))
		return nil
	}
}

const twoVolumes = `{"logical_disks": [
	{"size_gb": 2, "raid_level": "1", "controller": "software", "volume_name": "root"},
	{"size_gb": "MAX", "raid_level": "5", "controller": "software", "volume_name": "data"}]}`

func TestCreateUEFI(t *testing.T) {
	s := newSim(t)
	var told []string
	m := &Manager{MD: s.tool, Disks: s.disks("sda", "sdb", "sdc"), UEFI: true, Partitions: s.kernelParts(&told)}
	c, err := ParseConfig(decode(t, twoVolumes))
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Create(context.Background(), c, CreateOptions{Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"mdadm --examine --export sda", "mdadm --examine --export sdb", "mdadm --examine --export sdc",
		"mdadm --create md/esp --run --force --metadata=1.0 --homehost=any --level=1 --name=esp --raid-devices=3 sda1 sdb1 sdc1",
		"mdadm --detail --export md/esp",
		"mdadm --create md/root --run --force --metadata=1.2 --homehost=any --level=1 --name=root --raid-devices=3 sda2 sdb2 sdc2",
		"mdadm --detail --export md/root",
		"mdadm --create md/data --run --force --metadata=1.2 --homehost=any --level=5 --name=data --raid-devices=3 sda3 sdb3 sdc3",
		"mdadm --detail --export md/data",
	}
	if !slices.Equal(s.argv, want) {
		t.Errorf("argv\n got %q\nwant %q", s.argv, want)
	}
	if want := []string{"sda:1,2,3", "sdb:1,2,3", "sdc:1,2,3"}; !slices.Equal(told, want) {
		t.Errorf("kernel told %q, want %q", told, want)
	}
	root, err := res.RootVolume()
	if err != nil || root != filepath.Join(s.tool.DevDir, "md", "root") {
		t.Errorf("root volume %q, %v", root, err)
	}
	if lds := res.RaidConfig()["logical_disks"].([]any); len(lds) != 2 {
		t.Errorf("raid_config %v", res.RaidConfig())
	}

	// The table on disk, read back by go-diskfs.
	f, err := os.Open(m.Disks[1].Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tbl, err := gpt.Read(f, 512, 512)
	if err != nil {
		t.Fatal(err)
	}
	type part struct {
		start, size uint64
		typ         gpt.Type
		name        string
	}
	var got []part
	for _, p := range tbl.Partitions {
		if p.Type != gpt.Unused {
			got = append(got, part{p.Start * 512, p.Size, p.Type, p.Name})
		}
	}
	rootSize := uint64(memberSize("1", 3, 2*GiB))
	end := uint64(8*GiB-512-gptReserve) / uint64(MiB) * uint64(MiB)
	wantParts := []part{
		{uint64(MiB), uint64(ESPSize), gpt.EFISystemPartition, "esp"},
		{uint64(MiB + ESPSize), rootSize, gpt.LinuxRAID, "root"},
		{uint64(MiB+ESPSize) + rootSize, end - uint64(MiB+ESPSize) - rootSize, gpt.LinuxRAID, "data"},
	}
	if !slices.Equal(got, wantParts) {
		t.Errorf("partitions\n got %+v\nwant %+v", got, wantParts)
	}
	for _, p := range got {
		if p.start%uint64(MiB) != 0 || p.size%uint64(MiB) != 0 {
			t.Errorf("partition %s not 1 MiB aligned", p.name)
		}
	}
}

func TestCreateBIOSWithHints(t *testing.T) {
	s := newSim(t)
	var told []string
	disks := s.disks("sda", "sdb", "sdc", "sdd")
	byName := func(h map[string]any, cands []Device) ([]Device, error) {
		var out []Device
		for _, d := range cands {
			if filepath.Base(d.Path) == h["name"] {
				out = append(out, d)
			}
		}
		return out, nil
	}
	m := &Manager{MD: s.tool, Disks: disks, Match: byName, Partitions: s.kernelParts(&told)}
	c, err := ParseConfig(decode(t, `{"logical_disks": [
		{"size_gb": 1, "raid_level": "1", "controller": "software", "physical_disks": [{"name": "sdc"}, {"name": "sdd"}]},
		{"size_gb": 1, "raid_level": "0", "controller": "software", "physical_disks": [{"name": "sdd"}, {"name": "sdc"}], "is_root_volume": true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Create(context.Background(), c, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"mdadm --examine --export sdc", "mdadm --examine --export sdd",
		"mdadm --create md/md0 --run --force --metadata=1.2 --homehost=any --level=1 --name=md0 --raid-devices=2 sdc2 sdd2",
		"mdadm --detail --export md/md0",
		"mdadm --create md/md1 --run --force --metadata=1.2 --homehost=any --level=0 --name=md1 --raid-devices=2 sdc3 sdd3",
		"mdadm --detail --export md/md1",
	}
	if !slices.Equal(s.argv, want) {
		t.Errorf("argv\n got %q\nwant %q", s.argv, want)
	}
	for _, d := range []string{"sda", "sdb"} {
		if pt, _ := hasPartitionTable(Device{Path: filepath.Join(s.tool.DevDir, d), Size: 8 * GiB}); pt {
			t.Errorf("%s is outside the config but was partitioned", d)
		}
	}
	f, _ := os.Open(disks[2].Path)
	defer f.Close()
	tbl, err := gpt.Read(f, 512, 512)
	if err != nil {
		t.Fatal(err)
	}
	if p := tbl.Partitions[0]; p.Type != gpt.BIOSBoot || p.Size != uint64(BIOSBootSize) {
		t.Errorf("first partition %+v, want 2 MiB BIOS boot", p)
	}
	if root, _ := res.RootVolume(); filepath.Base(root) != "md1" {
		t.Errorf("root %q, want the is_root_volume md1", root)
	}
}

func TestCreateRefusesBeforeWriting(t *testing.T) {
	tests := []struct {
		name  string
		cfg   string
		dirty string // disk given an MBR signature first
		want  string
	}{
		{"raid5 on 2 disks", `{"logical_disks": [{"size_gb": 1, "raid_level": "5", "controller": "software"}]}`, "", "logical disk 0: RAID-5 needs at least 3 disks, the machine has 2"},
		{"too big", `{"logical_disks": [{"size_gb": 8, "raid_level": "1", "controller": "software"}]}`, "", "the logical disks need"},
		{"sum too big", `{"logical_disks": [{"size_gb": 6, "raid_level": "1", "controller": "software"}, {"size_gb": 4, "raid_level": "0", "controller": "software"}]}`, "", "which has 8190 MiB usable"},
		{"not clean", `{"logical_disks": [{"size_gb": 1, "raid_level": "1", "controller": "software"}]}`, "sdb", "sdb has a partition table; run delete_configuration"},
		{"hint without disk", `{"logical_disks": [{"size_gb": 1, "raid_level": "1", "controller": "software", "physical_disks": [{"name": "sda"}, {"name": "sdz"}]}]}`, "", `physical_disks[1] {"name":"sdz"} matches no disk`},
		{"same disk twice", `{"logical_disks": [{"size_gb": 1, "raid_level": "1", "controller": "software", "physical_disks": [{"name": "sda"}, {"name": "sda"}]}]}`, "", "matches only disks already chosen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t)
			disks := s.disks("sda", "sdb")
			if tt.dirty != "" {
				f, _ := os.OpenFile(filepath.Join(s.tool.DevDir, tt.dirty), os.O_RDWR, 0)
				f.WriteAt([]byte{0x55, 0xaa}, 510)
				f.Close()
			}
			byName := func(h map[string]any, cands []Device) ([]Device, error) {
				var out []Device
				for _, d := range cands {
					if filepath.Base(d.Path) == h["name"] {
						out = append(out, d)
					}
				}
				return out, nil
			}
			var told []string
			m := &Manager{MD: s.tool, Disks: disks, Match: byName, Partitions: s.kernelParts(&told)}
			c, err := ParseConfig(decode(t, tt.cfg))
			if err != nil {
				t.Fatal(err)
			}
			_, err = m.Create(context.Background(), c, CreateOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if tt.dirty != "" && !errors.Is(err, ErrNotClean) {
				t.Errorf("err = %v, want ErrNotClean", err)
			}
			for _, a := range s.argv {
				if strings.HasPrefix(a, "mdadm --create") {
					t.Errorf("array created despite the refusal: %s", a)
				}
			}
			if len(told) != 0 {
				t.Errorf("partitions written: %q", told)
			}
			for _, d := range disks {
				if filepath.Base(d.Path) == tt.dirty {
					continue
				}
				if pt, _ := hasPartitionTable(d); pt {
					t.Errorf("%s written despite the refusal", d.Path)
				}
			}
		})
	}
}

func TestDeleteThenApplyWithDeleteExisting(t *testing.T) {
	s := newSim(t)
	var told []string
	m := &Manager{MD: s.tool, Disks: s.disks("sda", "sdb", "sdc"), UEFI: true, Partitions: s.kernelParts(&told)}
	c, err := ParseConfig(decode(t, twoVolumes))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(context.Background(), c, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A second create on the same disks is refused: they hold the RAID.
	if _, err := m.Create(context.Background(), c, CreateOptions{}); !errors.Is(err, ErrNotClean) {
		t.Fatalf("err = %v, want ErrNotClean", err)
	}
	// sdc loses its arrays' memory: its partition 2 superblock is found by examine only.
	s.argv = nil
	if err := m.Delete(context.Background()); err != nil {
		t.Fatal(err)
	}
	stops := 0
	for _, a := range s.argv {
		if strings.HasPrefix(a, "mdadm --stop") {
			stops++
		}
	}
	if stops != 3 || s.argv[0] != "mdadm --assemble --scan --run" {
		t.Errorf("argv %q: want assemble then 3 stops", s.argv)
	}
	if len(s.sb) != 0 {
		t.Errorf("superblocks left on %v", s.sb)
	}
	if len(s.arrays) != 0 {
		t.Errorf("arrays left: %v", s.arrays)
	}
	if links, _ := os.ReadDir(filepath.Join(s.tool.DevDir, "md")); len(links) != 0 {
		t.Errorf("stale /dev/md names left: %v", links)
	}
	for _, d := range m.Disks {
		if pt, _ := hasPartitionTable(d); pt {
			t.Errorf("%s keeps its partition table", d.Path)
		}
	}
	// Now clean: create works, and apply with delete_existing works on top of it.
	if _, err := m.Create(context.Background(), c, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(context.Background(), c, CreateOptions{DeleteExisting: true}); err != nil {
		t.Fatalf("apply with delete_existing: %v", err)
	}
}

func TestDeleteLeavesOtherDisks(t *testing.T) {
	s := newSim(t)
	var told []string
	disks := s.disks("sda", "sdb", "sdc")
	// sdc has an unrelated partition table.
	other := Holder{Device: disks[2], Partitions: []Partition{{Number: 1, Start: MiB, Size: 100 * MiB, Type: gpt.LinuxFilesystem, Name: "data"}}}
	if err := writeGPT(other); err != nil {
		t.Fatal(err)
	}
	m := &Manager{MD: s.tool, Disks: disks[:2], Partitions: s.kernelParts(&told)}
	c, _ := ParseConfig(decode(t, `{"logical_disks": [{"size_gb": 1, "raid_level": "1", "controller": "software"}]}`))
	if _, err := m.Create(context.Background(), c, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	m.Disks = disks
	if err := m.Delete(context.Background()); err != nil {
		t.Fatal(err)
	}
	if pt, _ := hasPartitionTable(disks[2]); !pt {
		t.Error("delete wiped a disk that held no RAID")
	}
	for _, a := range s.argv {
		if strings.Contains(a, "--zero-superblock sdc") {
			t.Errorf("touched sdc: %s", a)
		}
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		slog.SetDefault(slog.New(slog.DiscardHandler))
	}
	os.Exit(m.Run())
}

func TestPartitionPath(t *testing.T) {
	for in, want := range map[string]string{"/dev/sda": "/dev/sda3", "/dev/nvme0n1": "/dev/nvme0n1p3", "/dev/loop7": "/dev/loop7p3", "/dev/vdb": "/dev/vdb3", "/dev/mmcblk0": "/dev/mmcblk0p3"} {
		if got := PartitionPath(in, 3); got != want {
			t.Errorf("PartitionPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMemberSize(t *testing.T) {
	tests := []struct {
		level string
		n     int
		gib   int64
	}{{"1", 2, 10}, {"0", 2, 10}, {"5", 3, 10}, {"6", 4, 10}, {"1+0", 4, 10}, {"1+0", 3, 10}, {"0", 3, 1}}
	for _, tt := range tests {
		m := memberSize(tt.level, tt.n, tt.gib*GiB)
		num, den := dataDisks(tt.level, tt.n)
		if usable := (m - mdHeadroom(m)) * num / den; usable < tt.gib*GiB {
			t.Errorf("RAID-%s on %d: member %d MiB gives %d MiB < %d GiB", tt.level, tt.n, m/MiB, usable/MiB, tt.gib)
		}
		if m%MiB != 0 {
			t.Errorf("member size %d not aligned", m)
		}
	}
}
