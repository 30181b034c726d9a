package qemu

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Accelerators.
const (
	TCG = "tcg"
	KVM = "kvm"
)

// AccelEnv forces the accelerator ("tcg" or "kvm"), skipping detection.
const AccelEnv = "GOIPA_QEMU_ACCEL"

var (
	accelOnce sync.Once
	accel     string
)

// Accel picks the accelerator for kernel: KVM only when the CPU has VT-x or
// AMD-V and a probe boot under KVM reaches the kernel's root mount. /dev/kvm
// alone proves nothing: kvm_pvm provides it on machines without either, and
// a stock kernel dies under it. The answer is computed once per process.
func Accel(kernel string) string {
	accelOnce.Do(func() {
		if a := os.Getenv(AccelEnv); a == TCG || a == KVM {
			accel = a
			return
		}
		accel = TCG
		cpuinfo, err := os.ReadFile("/proc/cpuinfo")
		if err != nil || !hasVirtFlag(cpuinfo) || unix.Access("/dev/kvm", unix.R_OK|unix.W_OK) != nil {
			return
		}
		if probeKVM(kernel) {
			accel = KVM
		}
	})
	return accel
}

var virtFlag = regexp.MustCompile(`(?m)^flags\s*:.*\b(vmx|svm)\b`)

func hasVirtFlag(cpuinfo []byte) bool { return virtFlag.Match(cpuinfo) }

// probeKVM boots kernel without an initramfs: a working KVM gets it to the
// "VFS: Unable to mount root fs" panic within seconds, then QEMU exits.
func probeKVM(kernel string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64",
		"-accel", "kvm", "-cpu", "host", "-machine", "q35", "-m", "256",
		"-nodefaults", "-display", "none", "-no-reboot", "-serial", "stdio",
		"-kernel", kernel, "-append", "console=ttyS0 panic=-1 root=/dev/goipa-probe")
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run()
	return bytes.Contains(out.Bytes(), []byte("Unable to mount root fs"))
}
