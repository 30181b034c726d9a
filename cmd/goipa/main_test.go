package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPID1OnDevHost runs goipa as PID 1 of a PID namespace of its own on
// this (disk-rooted) host: it must not take itself for the ramdisk's /init
// (which ignores stray arguments, mounts over /tmp and sets the console's
// log level) but behave as on a dev host, where a stray argument is an
// error at start.
func TestPID1OnDevHost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a PID namespace")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) not installed")
	}
	bin := filepath.Join(t.TempDir(), "goipa")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmdline := filepath.Join(t.TempDir(), "cmdline")
	if err := os.WriteFile(cmdline, []byte("ipa-api-url=http://127.0.0.1:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Its own mount namespace too, so even a wrong /tmp mount stays in it.
	out, err := exec.CommandContext(ctx, "unshare", "--pid", "--fork", "--mount", "--mount-proc",
		bin, "--cmdline-file", cmdline, "text").CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("goipa as PID 1 of a namespace did not stop (it took itself for the ramdisk's init):\n%s", out)
	}
	if err == nil || !strings.Contains(string(out), `unexpected argument "text"`) {
		t.Errorf("err %v, output:\n%s\nwant the dev host's error for a stray argument", err, out)
	}
}
