package erase

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestPstore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"dmesg-efi-172800000001", "console-ramoops-0", "sub/dmesg-erst-1"} {
		p := filepath.Join(dir, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte("Oops: kernel panic\n"), 0o444))
	}
	if err := Pstore(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	left, err := os.ReadDir(dir)
	if err != nil || len(left) != 0 {
		t.Errorf("pstore after erase holds %v (%v), want nothing", left, err)
	}
	if err := Pstore(context.Background(), dir); err != nil {
		t.Errorf("erasing an empty pstore = %v", err)
	}
	if err := Pstore(context.Background(), filepath.Join(dir, "missing")); err == nil {
		t.Error("Pstore of a missing directory succeeded")
	}
}
