package qemu

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestIronicKernelLine boots the ramdisk with the words Ironic's iPXE
// template and [pxe]kernel_append_params' default put on the kernel line
// (the kernel hands "text" and "nofb" to /init as arguments), a virtual
// media "--" with words after it, and one invalid ipa-* value: the agent
// must say what it left out on the console and still look up and
// heartbeat.
func TestIronicKernelLine(t *testing.T) {
	kernel, initrd := Images(t)
	l := newLab(t, nil)
	vm := Start(t, Options{Kernel: kernel, Initrd: initrd, GuestFwds: l.fwds,
		Append: "selinux=0 troubleshoot=0 text nofb nomodeset vga=normal " + l.append() +
			" ipa-lookup-timeout=soon BOOTIF=01-" + strings.ReplaceAll(DefaultMAC, ":", "-") +
			" initrd=deploy_ramdisk -- --debug single"})
	hb := l.firstHeartbeat(t)
	t.Logf("QEMU start → first heartbeat: %v", hb.Time.Sub(vm.Started()).Round(10*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	line, err := vm.WaitLine(ctx, "setting ignored")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line, "ipa-lookup-timeout") || !strings.Contains(line, "soon") {
		t.Errorf("console line %q does not name the invalid setting", line)
	}
	if c := vm.Console(); strings.Contains(c, "stopped for good") || strings.Contains(c, "unexpected argument") {
		t.Errorf("the agent refused Ironic's kernel line:\n%s", c)
	}
}
