package ipa13

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"

	"golang.org/x/sys/unix"
)

// lsblkEnv marks IPA's environment: the test binary, bind-mounted over the
// root's lsblk, then filters lsblk's output.
const lsblkEnv = "GOIPA_IPA13_LSBLK"

// realLsblk is where the root's own lsblk stays visible in the sandbox.
const realLsblk = "/usr/bin/lsblk.real"

// IPA deploys to devices lsblk calls "disk" and skips loop devices; the
// filter reports the sandbox's loop device as a disk, the only change to
// what IPA sees (it asks in JSON and in pairs).
var loopType = regexp.MustCompile(`("type":\s*"|TYPE=")loop"`)

// lsblkFilter puts the running binary in place of merged's lsblk.
func lsblkFilter(merged string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	lsblk := filepath.Join(merged, "usr/bin/lsblk")
	real := filepath.Join(merged, realLsblk)
	if err := os.WriteFile(real, nil, 0o755); err != nil {
		return err
	}
	if err := mount(lsblk, real, "", unix.MS_BIND, ""); err != nil {
		return err
	}
	return mount(self, lsblk, "", unix.MS_BIND, "")
}

// runLsblk runs the real lsblk with args and rewrites the loop device's
// type; it returns lsblk's exit status.
func runLsblk(args []string) int {
	cmd := exec.Command(realLsblk, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	fmt.Print(loopType.ReplaceAllString(string(out), `${1}disk"`))
	if err != nil {
		if e, ok := err.(*exec.ExitError); ok {
			return e.ExitCode()
		}
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
