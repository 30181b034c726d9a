package erase

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		setup  func(t *testing.T, f *fakeSys) Device // returns the device to check
		want   error                                 // nil: erasable
		detail string                                // must appear in the error
	}{
		{"plain disk", func(t *testing.T, f *fakeSys) Device {
			return Device{Path: f.disk("sda", "8:0", "ATA", "Samsung SSD 860")}
		}, nil, ""},
		{"VMware's ordinary virtual disk", func(t *testing.T, f *fakeSys) Device {
			return Device{Path: f.disk("sda", "8:0", "VMware", "Virtual disk")}
		}, nil, ""},
		{"Supermicro virtual CD-ROM", func(t *testing.T, f *fakeSys) Device {
			return Device{Path: f.disk("sr0", "11:0", "ATEN", "Virtual CDROM")}
		}, ErrVirtualMedia, `"Virtual CDROM"`},
		{"iDRAC virtual floppy from the listing", func(t *testing.T, f *fakeSys) Device {
			return Device{Path: f.disk("sdb", "8:16", "", ""), Vendor: "iDRAC", Model: "Virtual Floppy"}
		}, ErrVirtualMedia, "Virtual Floppy"},
		{"Cisco vKVM", func(t *testing.T, f *fakeSys) Device {
			return Device{Path: f.disk("sdc", "8:32", "Cisco", "vKVM-Mapped vDVD")}
		}, ErrVirtualMedia, "vKVM"},
		{"partition labelled ir-vfd-dev (IPA's check)", func(t *testing.T, f *fakeSys) Device {
			p := f.disk("sdb", "8:16", "Generic", "USB Flash")
			f.part("sdb", "sdb1", "8:17")
			must(t, os.MkdirAll(filepath.Join(f.dev, "disk", "by-label"), 0o755))
			must(t, os.WriteFile(filepath.Join(f.dev, "sdb1"), nil, 0o644))
			must(t, os.Symlink("../../sdb1", filepath.Join(f.dev, "disk", "by-label", "ir-vfd-dev")))
			return Device{Path: p}
		}, ErrVirtualMedia, "ir-vfd-dev"},
		{"partition in an md array", func(t *testing.T, f *fakeSys) Device {
			p := f.disk("sda", "8:0", "ATA", "disk")
			f.part("sda", "sda1", "8:1")
			f.part("sda", "sda2", "8:2")
			f.holder("sda2", "md127")
			return Device{Path: p}
		}, ErrRAIDMember, "sda2 is part of md127"},
		{"listing says md member", func(t *testing.T, f *fakeSys) Device {
			return Device{Path: f.disk("sda", "8:0", "ATA", "disk"), Holders: []string{"/dev/md0"}}
		}, ErrRAIDMember, "md0"},
		{"read-only in sysfs", func(t *testing.T, f *fakeSys) Device {
			p := f.disk("sda", "8:0", "ATA", "disk")
			f.write(f.sysDir("sda"), "ro", "1")
			return Device{Path: p}
		}, ErrReadOnly, ""},
		{"read-only in the listing", func(t *testing.T, f *fakeSys) Device {
			return Device{Path: f.disk("sda", "8:0", "ATA", "disk"), ReadOnly: true}
		}, ErrReadOnly, ""},
		{"mounted partition", func(t *testing.T, f *fakeSys) Device {
			p := f.disk("sda", "8:0", "ATA", "disk")
			f.part("sda", "sda1", "8:1")
			f.part("sda", "sda2", "8:2")
			f.mount("8:2", `/mnt/my\040data`, "ext4", "/dev/sda2")
			return Device{Path: p}
		}, ErrMounted, "sda2 on /mnt/my data"},
		{"btrfs mounted with an anonymous device number", func(t *testing.T, f *fakeSys) Device {
			p := f.disk("sda", "8:0", "ATA", "disk")
			f.part("sda", "sda1", "8:1")
			f.mount("0:45", "/srv", "btrfs", "/dev/sda1")
			return Device{Path: p}
		}, ErrMounted, "sda1 on /srv"},
		{"whole disk mounted", func(t *testing.T, f *fakeSys) Device {
			p := f.disk("sdd", "8:48", "ATA", "disk")
			f.mount("8:48", "/data", "xfs", "/dev/sdd")
			return Device{Path: p}
		}, ErrMounted, "sdd on /data"},
		{"other disk mounted", func(t *testing.T, f *fakeSys) Device {
			f.mount("8:17", "/data", "xfs", "/dev/sdb1")
			return Device{Path: f.disk("sda", "8:0", "ATA", "disk")}
		}, nil, ""},
		{"LVM on a partition", func(t *testing.T, f *fakeSys) Device {
			p := f.disk("sda", "8:0", "ATA", "disk")
			f.part("sda", "sda1", "8:1")
			f.holder("sda1", "dm-0")
			return Device{Path: p}
		}, ErrHeld, "sda1 is held by dm-0"},
		{"GFS2 filesystem", func(t *testing.T, f *fakeSys) Device {
			p := f.disk("sde", "8:64", "LIO-ORG", "shared-lun")
			writeAt(t, p, 64<<10, []byte{0x01, 0x16, 0x19, 0x70, 0, 0, 0, 1})
			return Device{Path: p}
		}, ErrProtected, "GFS/GFS2"},
		{"path through a symlink", func(t *testing.T, f *fakeSys) Device {
			f.disk("sda", "8:0", "ATA", "disk")
			f.write(f.sysDir("sda"), "ro", "1")
			must(t, os.MkdirAll(filepath.Join(f.dev, "disk", "by-id"), 0o755))
			link := filepath.Join(f.dev, "disk", "by-id", "ata-Samsung")
			must(t, os.Symlink("../../sda", link))
			return Device{Path: link}
		}, ErrReadOnly, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeSys(t)
			dev := tt.setup(t, f)
			err := Check(dev, f.opts())
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.detail) || !strings.Contains(err.Error(), dev.Path) {
				t.Fatalf("Check = %v, want %v naming %s and %q", err, tt.want, dev.Path, tt.detail)
			}
		})
	}
}

func TestCheckMissingDevice(t *testing.T) {
	t.Parallel()
	f := newFakeSys(t)
	if err := Check(Device{Path: filepath.Join(f.dev, "sdz")}, f.opts()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Check of a missing device = %v, want ErrNotExist", err)
	}
	p := filepath.Join(f.dev, "notblock")
	must(t, os.WriteFile(p, nil, 0o644))
	if err := Check(Device{Path: p}, f.opts()); !errors.Is(err, ErrNotBlockDevice) {
		t.Errorf("Check of a file with no sysfs entry = %v, want ErrNotBlockDevice", err)
	}
}

func TestCheckAllowSpecialFilesystems(t *testing.T) {
	t.Parallel()
	f := newFakeSys(t)
	p := f.disk("sde", "8:64", "LIO-ORG", "shared-lun")
	writeAt(t, p, 1<<20, binary.LittleEndian.AppendUint32(nil, 0xc001d00d))
	o := f.opts()
	if err := Check(Device{Path: p}, o); !errors.Is(err, ErrProtected) || !strings.Contains(err.Error(), "VMFS volume") {
		t.Fatalf("Check = %v, want ErrProtected (VMFS volume)", err)
	}
	o.AllowSpecialFilesystems = true
	if err := Check(Device{Path: p}, o); err != nil {
		t.Errorf("Check with AllowSpecialFilesystems = %v", err)
	}
}

// The *Devices functions skip what IPA skips, and refuse the whole list,
// before erasing anything, when one device must not be erased.
func TestPreflight(t *testing.T) {
	t.Parallel()
	f := newFakeSys(t)
	vmedia := Device{Path: f.disk("sr0", "11:0", "AMI", "Virtual CDROM0")}
	ro := Device{Path: f.disk("sdb", "8:16", "ATA", "disk"), ReadOnly: true}
	member := Device{Path: f.disk("sdc", "8:32", "ATA", "disk"), Holders: []string{"md0"}}
	mounted := Device{Path: f.disk("sdd", "8:48", "ATA", "disk")}
	f.mount("8:48", "/", "ext4", "/dev/sdd")
	ctx := context.Background()

	res, err := MetadataDevices(ctx, []Device{vmedia, ro, member}, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []error{ErrVirtualMedia, ErrReadOnly, ErrRAIDMember} {
		if !errors.Is(res[i].Skipped, want) || res[i].Method != "" {
			t.Errorf("result %d = %+v, want skipped with %v", i, res[i], want)
		}
	}
	if _, err := Express(ctx, []Device{ro}, f.opts()); err != nil {
		t.Errorf("Express skips read-only devices, got %v", err)
	}
	if _, err := Devices(ctx, []Device{vmedia, ro}, f.opts()); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Devices with a read-only device = %v, want ErrReadOnly", err)
	}
	o := f.opts()
	o.SkipReadOnly = true
	if res, err := Devices(ctx, []Device{ro}, o); err != nil || !errors.Is(res[0].Skipped, ErrReadOnly) {
		t.Errorf("Devices with SkipReadOnly = %+v, %v; want skipped", res, err)
	}
	for name, fn := range map[string]func(context.Context, []Device, Options) ([]Result, error){
		"MetadataDevices": MetadataDevices, "Express": Express, "Devices": Devices,
	} {
		_, err := fn(ctx, []Device{vmedia, mounted}, f.opts())
		if !errors.Is(err, ErrMounted) || !strings.Contains(err.Error(), "sdd on /") {
			t.Errorf("%s with a mounted disk = %v, want ErrMounted", name, err)
		}
	}
}
