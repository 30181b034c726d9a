package ipa13

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/tstest/benchimg"
	"github.com/goipa/goipa/tstest/looptest"
)

func TestMain(m *testing.M) {
	RunHelper()
	os.Exit(m.Run())
}

// TestWriteImage: IPA 13 in its sandbox writes a raw image to the loop
// device, the only disk it can open. It needs GOIPA_IRONIC35_ROOT (make
// bench sets it) and root.
func TestWriteImage(t *testing.T) {
	root := os.Getenv("GOIPA_IRONIC35_ROOT")
	if root == "" || os.Getenv("GOIPA_BENCH") == "" {
		t.Skip("set GOIPA_BENCH=1 and GOIPA_IRONIC35_ROOT (make bench)")
	}
	loop, backing := looptest.New(t, 5<<30)
	// IPA checks that a whole-disk image holds a partition table.
	file := filepath.Join(t.TempDir(), "img")
	img := make([]byte, 16<<20)
	rand.NewChaCha8([32]byte{3}).Read(img)
	if err := os.WriteFile(file, img, 0o644); err != nil {
		t.Fatal(err)
	}
	benchimg.GPT(t, file)
	img, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(img)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "img", time.Time{}, bytes.NewReader(img))
	}))
	defer srv.Close()
	a := Start(t, root, loop)
	checkCaps(t, a.Pid)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = a.WriteImage(ctx, Node(loop), map[string]any{"id": "bench", "urls": []string{srv.URL + "/img"},
		"disk_format": "raw", "stream_raw_images": true, "os_hash_algo": "sha256", "os_hash_value": hex.EncodeToString(sum[:])})
	if err != nil {
		a.dumpLog(t)
		t.Fatal(err)
	}
	f, err := os.Open(backing)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := make([]byte, len(img))
	// IPA moves the backup GPT to the disk's end, which rewrites the
	// primary header: compare what lies between the tables.
	gpt := 34 * 512
	if _, err := f.ReadAt(got, 0); err != nil || !bytes.Equal(got[gpt:len(got)-gpt], img[gpt:len(img)-gpt]) {
		t.Fatalf("the loop device does not hold the image (%v)", err)
	}
}

// checkCaps: the agent may neither power off nor configure the network.
func checkCaps(t *testing.T, pid int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			bnd, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			if bnd&(1<<unix.CAP_SYS_BOOT|1<<unix.CAP_NET_ADMIN) != 0 {
				t.Fatalf("IPA's bounding set %x holds CAP_SYS_BOOT or CAP_NET_ADMIN", bnd)
			}
			return
		}
	}
	t.Fatal("no CapBnd in /proc/PID/status")
}
