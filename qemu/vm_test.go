package qemu

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestArgsNetwork(t *testing.T) {
	o := Options{Kernel: "k", Initrd: "i", Accel: TCG, MemMB: 128, Append: "goipa.net=static",
		GuestFwds: []Fwd{{GuestPort: 6385, HostAddr: "127.0.0.1:40001"}, {GuestPort: 8080, HostAddr: "[::1]:40002"}},
		Disks:     []Disk{{Path: "/d/a.raw", Serial: "s1"}, {Path: "/d/b.qcow2", Format: "qcow2"}},
		NICs: []NIC{{MAC: "52:54:00:12:34:57"}, {MAC: "52:54:00:12:34:58", Model: "virtio-net-pci"},
			{MAC: "52:54:00:12:34:59", UDP: "127.0.0.1:40003"}}}
	args, err := o.args(41000, map[int]int{22: 41002, 2222: 41001})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"-netdev": "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:41000-:9999" +
			",hostfwd=tcp:127.0.0.1:41002-:22,hostfwd=tcp:127.0.0.1:41001-:2222" +
			",guestfwd=tcp:10.0.2.100:6385-cmd:socat - TCP:127.0.0.1:40001" +
			",guestfwd=tcp:10.0.2.100:8080-cmd:socat - TCP:[::1]:40002",
		"-append": "console=ttyS0 panic=-1 quiet goipa.net=static",
		"-m":      "128",
		"-accel":  "tcg,thread=multi",
	}
	for flag, v := range want {
		if got := argValues(args, flag); !slices.Contains(got, v) {
			t.Errorf("%s = %q, want %q", flag, got, v)
		}
	}
	drives := argValues(args, "-drive")
	if len(drives) != 2 || !strings.Contains(drives[0], "file=/d/a.raw,format=raw") || !strings.Contains(drives[1], "format=qcow2") {
		t.Errorf("-drive = %q", drives)
	}
	if devs := argValues(args, "-device"); !slices.Contains(devs, "virtio-blk-pci,drive=d0,serial=s1") || !slices.Contains(devs, "virtio-blk-pci,drive=d1") ||
		!slices.Contains(devs, "e1000e,netdev=n1,mac=52:54:00:12:34:57") || !slices.Contains(devs, "virtio-net-pci,netdev=n2,mac=52:54:00:12:34:58") {
		t.Errorf("-device = %q", devs)
	}
	if nets := argValues(args, "-netdev"); !slices.Contains(nets, "user,id=n1,restrict=on,net=10.0.3.0/24") || !slices.Contains(nets, "user,id=n2,restrict=on,net=10.0.4.0/24") ||
		!slices.Contains(nets, "socket,id=n3,udp=127.0.0.1:40003,localaddr=127.0.0.1:0") {
		t.Errorf("-netdev = %q", nets)
	}
}

func TestArgsRefuseNonLoopback(t *testing.T) {
	for _, addr := range []string{"10.0.0.1:80", "example.org:80", "0.0.0.0:80", "[2001:db8::1]:80"} {
		o := Options{Kernel: "k", Initrd: "i", Accel: TCG, GuestFwds: []Fwd{{GuestPort: 80, HostAddr: addr}}}
		if _, err := o.args(1, nil); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("forward to %s: err = %v, want ErrNotLoopback", addr, err)
		}
		o = Options{Kernel: "k", Initrd: "i", Accel: TCG, NICs: []NIC{{MAC: DefaultMAC, UDP: addr}}}
		if _, err := o.args(1, nil); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("NIC wired to %s: err = %v, want ErrNotLoopback", addr, err)
		}
	}
	o := Options{Kernel: "k", Initrd: "i", Accel: TCG, GuestFwds: []Fwd{{GuestPort: 80, HostAddr: "127.0.0.1"}}}
	if _, err := o.args(1, nil); err == nil {
		t.Error("forward without a port accepted")
	}
}

func TestHasVirtFlag(t *testing.T) {
	for cpuinfo, want := range map[string]bool{
		"processor\t: 0\nflags\t\t: fpu vme de pse tsc msr vmx ept\n":    true,
		"flags\t\t: fpu svm sse\nflags\t\t: fpu svm sse\n":               true,
		"processor\t: 0\nflags\t\t: fpu vme de pse tsc msr hypervisor\n": false,
		"vmx flags\t: vnmi preemption_timer\nflags\t\t: fpu\n":           false,
		"": false,
	} {
		if got := hasVirtFlag([]byte(cpuinfo)); got != want {
			t.Errorf("hasVirtFlag(%q) = %v, want %v", cpuinfo, got, want)
		}
	}
}

func TestConsoleWait(t *testing.T) {
	c := newConsole()
	done := make(chan struct{})
	go func() {
		for _, s := range []string{"Welcome to u-root\n", "goipa star", "ting\n"} {
			time.Sleep(5 * time.Millisecond)
			_, _ = c.Write([]byte(s))
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.wait(ctx, "goipa starting", done); err != nil {
		t.Fatal(err)
	}
	close(done)
	if err := c.wait(ctx, "never printed", done); !errors.Is(err, errExited) {
		t.Errorf("after exit: err = %v, want errExited", err)
	}
}

func argValues(args []string, flag string) []string {
	var out []string
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			out = append(out, args[i+1])
		}
	}
	return out
}

func TestArgsUEFI(t *testing.T) {
	NeedOVMF(t)
	vars, err := NewUEFIVars(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Disk boot: the firmware's pflash pair and no -kernel.
	args, err := Options{Accel: TCG, UEFI: true, UEFIVars: vars}.args(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"if=pflash,format=raw,unit=0,readonly=on,file=" + OVMFCode, "if=pflash,format=raw,unit=1,file=" + vars}
	if got := argValues(args, "-drive"); !slices.Equal(got, want) {
		t.Errorf("-drive = %q, want %q", got, want)
	}
	if got := argValues(args, "-kernel"); got != nil {
		t.Errorf("disk boot has -kernel %q", got)
	}
	if _, err := (Options{Accel: TCG, UEFI: true}).args(1, nil); err == nil {
		t.Error("UEFI without a variable store accepted")
	}
}

func TestArgsTap(t *testing.T) {
	args, err := Options{Kernel: "k", Initrd: "i", Accel: TCG, Tap: "goipa6-0"}.args(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := argValues(args, "-netdev"), []string{"tap,id=n0,ifname=goipa6-0,script=no,downscript=no"}; !slices.Equal(got, want) {
		t.Errorf("-netdev = %q, want %q", got, want)
	}
	for _, o := range []Options{
		{GuestFwds: []Fwd{{GuestPort: 80, HostAddr: "127.0.0.1:80"}}},
		{Advertise: true},
		{GuestIP: "10.0.2.20"},
		{TFTP: "/srv/tftp"},
		{NetBoot: "boot.ipxe"},
	} {
		o.Accel, o.Tap = TCG, "goipa6-0"
		if _, err := o.args(1, nil); !errors.Is(err, ErrTapUserNet) {
			t.Errorf("%+v: err = %v, want ErrTapUserNet", o, err)
		}
	}
}
