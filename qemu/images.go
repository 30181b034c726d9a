package qemu

import (
	"os"
	"path/filepath"
	"testing"
)

// Environment variables naming the boot artefacts (`make test` sets them
// to out/goipa.vmlinux, out/goipa.initramfs, the server profile, and
// out/goipa-vm.initramfs, the vm profile).
const (
	KernelEnv   = "GOIPA_KERNEL"
	InitrdEnv   = "GOIPA_INITRD"
	InitrdVMEnv = "GOIPA_INITRD_VM"
)

// VMInitrd returns the vm profile's initramfs, or skips the test.
func VMInitrd(t testing.TB) string {
	t.Helper()
	p := os.Getenv(InitrdVMEnv)
	if p == "" {
		t.Skipf("qemu: %s unset (make ramdisk PROFILE=vm, or run make test)", InitrdVMEnv)
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("qemu: %v (make ramdisk PROFILE=vm)", err)
	}
	return p
}

// Images returns the kernel and initramfs named by the environment, or
// skips the test when either is unset or missing, so `go test ./...` passes
// on machines that never built a ramdisk.
func Images(t testing.TB) (kernel, initrd string) {
	t.Helper()
	kernel, initrd = os.Getenv(KernelEnv), os.Getenv(InitrdEnv)
	if kernel == "" || initrd == "" {
		t.Skipf("qemu: %s and %s unset (make ramdisk, then set them, or run make test)", KernelEnv, InitrdEnv)
	}
	for _, p := range []string{kernel, initrd} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("qemu: %v (make ramdisk)", err)
		}
	}
	return kernel, initrd
}

// BzImage returns the EFI-stub kernel next to the one KernelEnv names
// (make kernel builds out/goipa.kernel beside out/goipa.vmlinux), which OVMF
// can start and GRUB can load, or skips the test without it.
func BzImage(t testing.TB) string {
	t.Helper()
	kernel, _ := Images(t)
	p := filepath.Join(filepath.Dir(kernel), "goipa.kernel")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("qemu: the bzImage: %v (make kernel)", err)
	}
	return p
}
