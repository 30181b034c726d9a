package qemu

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestRamdiskDoesNotStartWithZstd: Ironic 35 (images.py
// _handle_zstd_compression) runs `zstd -d` on a downloaded ramdisk whose
// first bytes are a zstd frame, and that fails on a ramdisk of several
// archives. Both profiles start with the plain cpio of the modules and
// firmware; the zstd-compressed archive follows it, 4-byte aligned.
func TestRamdiskDoesNotStartWithZstd(t *testing.T) {
	_, server := Images(t)
	for _, p := range []string{server, VMInitrd(t)} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}) || !bytes.HasPrefix(b, []byte("070701")) {
			t.Errorf("%s starts with % x, want a newc cpio (070701)", p, b[:6])
			continue
		}
		trailer := bytes.Index(b, []byte("TRAILER!!!"))
		if trailer < 0 {
			t.Fatalf("%s: no cpio trailer", p)
		}
		i := trailer + len("TRAILER!!!")
		for i < len(b) && b[i] == 0 {
			i++
		}
		if i%4 != 0 || !bytes.HasPrefix(b[i:], []byte{0x28, 0xb5, 0x2f, 0xfd}) {
			t.Errorf("%s: no 4-byte aligned zstd archive after the plain one (byte %d: % x)", p, i, b[i:min(i+4, len(b))])
			continue
		}
		d, err := zstd.NewReader(bytes.NewReader(b[i:]))
		if err != nil {
			t.Fatal(err)
		}
		main, err := io.ReadAll(d)
		d.Close()
		if err != nil || !bytes.HasPrefix(main, []byte("070701")) || !bytes.Contains(main, []byte("init\x00")) {
			t.Errorf("%s: the zstd archive is not goipa's cpio (%v)", p, err)
		}
	}
}
