package qemu

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// OVMF, from Debian's ovmf package: the firmware code (read-only) and the
// empty variable store each UEFI machine starts from.
const (
	OVMFCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	OVMFVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// ErrNoOVMF reports that UEFI was asked for without OVMF installed.
var ErrNoOVMF = errors.New("qemu: UEFI needs OVMF (apt-get install ovmf)")

// NeedOVMF skips the test on a machine without OVMF.
func NeedOVMF(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(OVMFCode); err != nil {
		t.Skipf("%v: %v", ErrNoOVMF, err)
	}
}

// NewUEFIVars copies OVMF's empty variable store into dir: a machine's
// NVRAM, which keeps boot entries across the VMs given it as UEFIVars.
func NewUEFIVars(dir string) (string, error) {
	b, err := os.ReadFile(OVMFVars)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoOVMF, err)
	}
	p := filepath.Join(dir, "OVMF_VARS.fd")
	return p, os.WriteFile(p, b, 0o644)
}

// uefiArgs are the two pflash drives of a UEFI VM.
func (o Options) uefiArgs() ([]string, error) {
	if _, err := os.Stat(OVMFCode); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoOVMF, err)
	}
	if o.UEFIVars == "" {
		return nil, errors.New("qemu: UEFI VM without a variable store")
	}
	return []string{
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + OVMFCode,
		"-drive", "if=pflash,format=raw,unit=1,file=" + o.UEFIVars,
	}, nil
}
