package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestChrootHelper is the program TestRunRoot runs inside its chroot: it
// prints its working directory and the names in its root.
func TestChrootHelper(t *testing.T) {
	if os.Getenv("GOIPA_CHROOT_HELPER") == "" {
		t.Skip("run by TestRunRoot")
	}
	wd, _ := os.Getwd()
	ents, err := os.ReadDir("/")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	fmt.Printf("wd=%s root=%s\n", wd, strings.Join(names, ","))
}

// TestRunRoot runs a program inside a directory tree, as the bootloader
// install runs a deployed image's grub: the program must see that tree as
// its whole file system, and Name is resolved inside it.
func TestRunRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	root := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary is static (CGO_ENABLED=0): it runs with nothing else.
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Join(root, "sbin"), 0o755); err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(filepath.Join(root, "sbin", "helper"), os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	os.WriteFile(filepath.Join(root, "marker"), nil, 0o644)

	out, err := Exec{}.Run(context.Background(), Cmd{Name: "/sbin/helper", Args: []string{"-test.run=^TestChrootHelper$"},
		Env: []string{"GOIPA_CHROOT_HELPER=1"}, Root: root})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "wd=/ root=marker,sbin\n") {
		t.Errorf("inside the chroot: %q, want wd=/ and only the tree's marker and sbin", out)
	}
	// A program that exists outside the tree only is not found.
	_, err = Exec{}.Run(context.Background(), Cmd{Name: self, Root: root})
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("running a program absent from the tree: %v, want not found", err)
	}
}
