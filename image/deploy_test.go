package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/goipa/goipa/image/disk"
	"github.com/goipa/goipa/image/download"
	"github.com/goipa/goipa/internal/errclass"
)

// server serves one file like an image server, with faults on demand.
type server struct {
	data atomic.Pointer[[]byte]
	// dropAt, if > 0, closes the first GET's connection after that many bytes.
	dropAt  atomic.Int64
	noRange atomic.Bool
	// ignoreRange answers Range requests with the whole image, still
	// announcing Accept-Ranges: bytes.
	ignoreRange atomic.Bool
	// dropRange, if > 0, closes the first Range answer's connection after
	// that many bytes.
	dropRange atomic.Int64
	// replace, if set, becomes the image (with its ETag) once the first GET
	// has started, which still sends the old one.
	replace  atomic.Pointer[replacement]
	etag     atomic.Pointer[string]
	gets     atomic.Int64
	ranges   atomic.Int64
	mu       sync.Mutex
	starts   []string // Range headers, in arrival order
	url      string
	checksum string
}

type replacement struct {
	data []byte
	etag string
}

func serve(t *testing.T, data []byte) *server {
	t.Helper()
	s := &server{}
	s.data.Store(&data)
	v1 := `"v1"`
	s.etag.Store(&v1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, etag := *s.data.Load(), *s.etag.Load()
		if rp := s.replace.Swap(nil); rp != nil {
			s.data.Store(&rp.data)
			s.etag.Store(&rp.etag)
		}
		if r.Method == http.MethodGet {
			s.gets.Add(1)
			if rng := r.Header.Get("Range"); rng != "" {
				s.ranges.Add(1)
				s.mu.Lock()
				s.starts = append(s.starts, rng)
				s.mu.Unlock()
			}
		}
		if n := s.dropRange.Load(); n > 0 && r.Header.Get("Range") != "" && s.dropRange.CompareAndSwap(n, 0) {
			w.Header().Set("ETag", etag)
			dropAfter(w, r, d, n)
			return
		}
		if s.ignoreRange.Load() {
			r.Header.Del("Range")
		}
		if s.noRange.Load() {
			r.Header.Del("Range")
			w.Header().Set("Accept-Ranges", "none")
		}
		if n := s.dropAt.Swap(0); n > 0 && r.Header.Get("Range") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(len(d)))
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Accept-Ranges", "bytes")
			w.WriteHeader(200)
			w.Write(d[:n])
			if hj, ok := w.(http.Hijacker); ok {
				c, _, _ := hj.Hijack()
				c.Close()
			}
			return
		}
		w.Header().Set("ETag", etag)
		http.ServeContent(w, r, "img", time.Unix(1700000000, 0), bytes.NewReader(d))
	}))
	t.Cleanup(srv.Close)
	sum := sha256.Sum256(data)
	s.url, s.checksum = srv.URL+"/images/disk.img", hex.EncodeToString(sum[:])
	return s
}

// dropAfter answers r like ServeContent but closes the connection after n
// bytes of the body.
func dropAfter(w http.ResponseWriter, r *http.Request, d []byte, n int64) {
	rec := httptest.NewRecorder()
	rec.Header().Set("ETag", w.Header().Get("ETag"))
	http.ServeContent(rec, r, "img", time.Unix(1700000000, 0), bytes.NewReader(d))
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes()[:min(n, int64(rec.Body.Len()))])
	if hj, ok := w.(http.Hijacker); ok {
		c, _, _ := hj.Hijack()
		c.Close()
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newDeployer() *Deployer {
	return &Deployer{
		Log:              quietLog(),
		Download:         download.Options{ConnectTimeout: 5 * time.Second, Retries: 2, RetryInterval: 10 * time.Millisecond},
		PermittedFormats: []string{"raw", "qcow2", "iso"},
		Disk:             disk.Options{AllowFile: true},
	}
}

// target makes a sparse file standing in for a disk.
func target(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

// pattern makes image bytes with random runs and long zero runs, like a
// real disk image.
func pattern(size int) []byte {
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	for off := 0; off < size; off += 1 << 20 {
		if (off>>20)%3 == 1 {
			continue // a zero MiB
		}
		end := min(off+(1<<20)-4096, size)
		for i := off; i < end; i++ {
			b[i] = byte(r.Uint32())
		}
	}
	return b
}

func readBack(t *testing.T, path string, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(f, b); err != nil {
		t.Fatal(err)
	}
	return b
}

func info(s *server, format string) *Info {
	return &Info{ID: "disk.img", URLs: []string{s.url}, DiskFormat: format, OSHashAlgo: "sha256", OSHashValue: s.checksum}
}

func errType(err error) string { return errclass.Of(err) }

func TestWriteRawAndCompressed(t *testing.T) {
	img := pattern(9<<20 + 512)
	var gz, zs, xzb bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(img)
	gw.Close()
	zw, _ := zstd.NewWriter(&zs)
	zw.Write(img)
	zw.Close()
	xw, _ := xz.NewWriter(&xzb)
	xw.Write(img)
	xw.Close()
	for name, body := range map[string][]byte{"raw": img, "gzip": gz.Bytes(), "zstd": zs.Bytes(), "xz": xzb.Bytes()} {
		t.Run(name, func(t *testing.T) {
			s := serve(t, body)
			dev := target(t, 32<<20)
			res, err := newDeployer().Write(context.Background(), info(s, "raw"), dev, "")
			if err != nil {
				t.Fatal(err)
			}
			if got := readBack(t, dev, len(img)); !bytes.Equal(got, img) {
				t.Fatal("disk content differs from the image")
			}
			if res.Stats.Image != int64(len(img)) || !strings.Contains(res.Message("disk.img"), "written to device "+dev+" root_uuid=0x") {
				t.Errorf("result = %+v, message %q", res.Stats, res.Message("disk.img"))
			}
		})
	}
}

func TestResumeAfterDrop(t *testing.T) {
	for _, tc := range []struct {
		name    string
		streams int
		ranges  []string // sorted
	}{
		{"one stream", 1, []string{"bytes=3145735-"}},
		// On a LAN, the default is one stream.
		{"default, short path", 0, []string{"bytes=3145735-"}},
		// The first answer serves segment 0 and is resumed to its end.
		{"parallel", download.DefaultStreams, []string{"bytes=3145735-4194303", "bytes=4194304-8388607"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := pattern(8 << 20)
			s := serve(t, img)
			s.dropAt.Store(3<<20 + 7)
			dev := target(t, 16<<20)
			d := newDeployer()
			d.Download.Streams = tc.streams
			if _, err := d.Write(context.Background(), info(s, "raw"), dev, ""); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(readBack(t, dev, len(img)), img) {
				t.Fatal("disk content differs after a resumed download")
			}
			slices.Sort(s.starts)
			if s.gets.Load() != int64(len(tc.ranges))+1 || !slices.Equal(s.starts, tc.ranges) {
				t.Errorf("GETs %d with Range %q, want one whole and %q", s.gets.Load(), s.starts, tc.ranges)
			}
		})
	}
}

// TestParallelDownloadFaults: the faults of a download over several
// connections end in the verified image or in an error, never in a
// SUCCEEDED deploy of other bytes.
func TestParallelDownloadFaults(t *testing.T) {
	img := pattern(17 << 20)
	other := pattern(17 << 20)
	for i := range other {
		other[i] ^= 0x5a
	}
	for _, tc := range []struct {
		name    string
		setup   func(*server)
		errType string
	}{
		{name: "server ignores Range", setup: func(s *server) { s.ignoreRange.Store(true) }},
		{name: "parallel stream dropped", setup: func(s *server) { s.dropRange.Store(1<<20 + 3) }},
		// The Range requests fail If-Range; the first answer, one
		// consistent response of the old image, is read on.
		{name: "ETag changed between streams", setup: func(s *server) { s.replace.Store(&replacement{other, `"v2"`}) }},
		// A server that keeps the ETag of changed bytes: they are spliced
		// in, and the checksum refuses them, twice.
		{name: "bytes changed under the same ETag", setup: func(s *server) { s.replace.Store(&replacement{other, `"v1"`}) },
			errType: "ImageChecksumError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serve(t, img)
			tc.setup(s)
			dev := target(t, 32<<20)
			d := newDeployer()
			d.Download.Streams = download.DefaultStreams
			_, err := d.Write(context.Background(), info(s, "raw"), dev, "")
			if tc.errType != "" {
				if errType(err) != tc.errType {
					t.Fatalf("err = %v (%s), want %s", err, errType(err), tc.errType)
				}
				if got := readBack(t, dev, 1<<20); !bytes.Equal(got, make([]byte, 1<<20)) {
					t.Error("an unverified image's first MiB is still on disk")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(readBack(t, dev, len(img)), img) {
				t.Fatal("disk content differs from the image")
			}
			if s.ranges.Load() == 0 {
				t.Error("no Range request: the download did not try parallel streams")
			}
		})
	}
}

func TestTruncatedWithoutRangeFails(t *testing.T) {
	img := pattern(4 << 20)
	s := serve(t, img)
	s.noRange.Store(true)
	s.dropAt.Store(1 << 20)
	d := newDeployer()
	d.Download.Retries = 1
	// The first download is cut (one of its two attempts) and cannot
	// resume: the agent must start over once (a full download) and then
	// succeed, never report the cut one.
	dev := target(t, 8<<20)
	if _, err := d.Write(context.Background(), info(s, "raw"), dev, ""); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readBack(t, dev, len(img)), img) {
		t.Fatal("disk content differs")
	}
}

func TestChecksumMismatch(t *testing.T) {
	img := pattern(2 << 20)
	s := serve(t, img)
	in := info(s, "raw")
	in.OSHashValue = strings.Repeat("0", 64)
	dev := target(t, 8<<20)
	_, err := newDeployer().Write(context.Background(), in, dev, "")
	if errType(err) != "ImageChecksumError" || !errors.Is(err, download.ErrChecksumMismatch) {
		t.Fatalf("err = %v (%s)", err, errType(err))
	}
	if g := s.gets.Load(); g != 2 {
		t.Errorf("%d downloads, want the image fetched twice at most", g)
	}
	// What did not verify must not stay bootable: the first MiB is wiped.
	if got := readBack(t, dev, 1<<20); !bytes.Equal(got, make([]byte, 1<<20)) {
		t.Error("an unverified image's first MiB is still on disk")
	}
}

func TestFormatSafety(t *testing.T) {
	qcow := []byte("QFI\xfb\x00\x00\x00\x03" + strings.Repeat("\x00", 4096))
	for _, tc := range []struct {
		name   string
		body   []byte
		format string
		want   string
	}{
		{"qcow2 claiming raw", qcow, "raw", "InvalidImage"},
		{"raw claiming qcow2", pattern(1 << 20), "qcow2", "InvalidImage"},
		{"vmdk", append([]byte("KDMV"), make([]byte, 4096)...), "raw", "InvalidImage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serve(t, tc.body)
			_, err := newDeployer().Write(context.Background(), info(s, tc.format), target(t, 8<<20), "")
			if errType(err) != tc.want {
				t.Fatalf("err = %v (%s), want %s", err, errType(err), tc.want)
			}
		})
	}
}

func TestImageLargerThanDisk(t *testing.T) {
	img := pattern(9 << 20)
	s := serve(t, img)
	dev := target(t, 8<<20)
	_, err := newDeployer().Write(context.Background(), info(s, "raw"), dev, "")
	if errType(err) != "ImageWriteError" || !errors.Is(err, disk.ErrTooSmall) {
		t.Fatalf("err = %v (%s)", err, errType(err))
	}
	if got := readBack(t, dev, 1<<20); !bytes.Equal(got, make([]byte, 1<<20)) {
		t.Error("something was written before the size check")
	}
}

func TestInvalidInfoIsInvalidParams(t *testing.T) {
	_, err := newDeployer().Write(context.Background(), &Info{ID: "x"}, target(t, 1<<20), "")
	if errType(err) != errclass.InvalidParams {
		t.Fatalf("err = %v", err)
	}
}

func qemuImg(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img %v: %v\n%s", args, err, out)
	}
}

// qcow2Of converts the raw file with qemu-img (args added) and returns the
// qcow2 file's path.
func qcow2Of(t *testing.T, raw string, args ...string) string {
	t.Helper()
	q := filepath.Join(t.TempDir(), "img.qcow2")
	qemuImg(t, append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, args...), raw, q)...)
	return q
}

// qcow2Pair returns a qcow2 file's bytes and qemu-img's raw conversion of
// it, the disk a deploy must leave.
func qcow2Pair(t *testing.T, q string) (body, want []byte) {
	t.Helper()
	body, err := os.ReadFile(q)
	if err != nil {
		t.Fatal(err)
	}
	w := filepath.Join(t.TempDir(), "want.raw")
	qemuImg(t, "convert", "-f", "qcow2", "-O", "raw", q, w)
	if want, err = os.ReadFile(w); err != nil {
		t.Fatal(err)
	}
	return body, want
}

// TestWriteQCOW2 converts qcow2 images made by qemu-img from HTTP and checks
// the disk against qemu-img's own raw conversion.
func TestWriteQCOW2(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed")
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "src.raw")
	if err := os.WriteFile(raw, pattern(24<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"plain", nil},
		{"zlib", []string{"-c"}},
		{"zstd", []string{"-c", "-o", "compression_type=zstd"}},
		{"v2 4k clusters", []string{"-o", "compat=0.10,cluster_size=4096"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, wantB := qcow2Pair(t, qcow2Of(t, raw, tc.args...))
			// One connection (the default on a LAN) and segments over several.
			for _, streams := range []int{0, download.DefaultStreams} {
				s := serve(t, body)
				dev := target(t, 64<<20)
				// Garbage on the "disk" first: zeros must really be written or skipped safely.
				if err := os.WriteFile(dev, bytes.Repeat([]byte{0xAA}, 64<<20), 0o644); err != nil {
					t.Fatal(err)
				}
				d := newDeployer()
				d.Download.Streams = streams
				res, err := d.Write(context.Background(), info(s, "qcow2"), dev, "")
				if err != nil {
					t.Fatal(err)
				}
				if got := readBack(t, dev, len(wantB)); !bytes.Equal(got, wantB) {
					t.Fatalf("%d streams: disk differs from qemu-img's conversion", streams)
				}
				// One pass over the file: the first GET and, over several
				// connections, a Range request for each further segment;
				// nothing fetched twice.
				segs := int64(1)
				var ranges []string
				if streams > 1 {
					segs = (int64(len(body)) + qcow2Segment - 1) / qcow2Segment
					for k := int64(1); k < segs; k++ {
						ranges = append(ranges, fmt.Sprintf("bytes=%d-%d", k*qcow2Segment, min((k+1)*qcow2Segment, int64(len(body)))-1))
					}
				}
				slices.Sort(s.starts)
				slices.Sort(ranges)
				if res.Format != QCOW2 || s.gets.Load() != segs || !slices.Equal(s.starts, ranges) {
					t.Errorf("%d streams: format %s, %d GETs with Range %q: want one pass, %q", streams, res.Format, s.gets.Load(), s.starts, ranges)
				}
			}
		})
	}
}

func TestConfigDriveValue(t *testing.T) {
	iso := append(make([]byte, 32769), []byte("CD001")...)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(iso)
	w.Close()
	d := newDeployer()
	got, err := d.fetchConfigDrive(context.Background(), base64.StdEncoding.EncodeToString(gz.Bytes()), d.Download)
	if err != nil || !bytes.Equal(got, iso) {
		t.Fatalf("base64 gzip: %v", err)
	}
	s := serve(t, gz.Bytes())
	got, err = d.fetchConfigDrive(context.Background(), s.url, d.Download)
	if err != nil || !bytes.Equal(got, iso) {
		t.Fatalf("URL: %v", err)
	}
	big := base64.StdEncoding.EncodeToString(make([]byte, 65<<20))
	if _, err := d.fetchConfigDrive(context.Background(), big, d.Download); err == nil {
		t.Fatal("a 65 MiB config drive was accepted")
	}
}

// TestQCOW2NeverRange deploys qcow2 images from a server that serves no
// byte ranges (python3 -m http.server answers Range with 200): IPA 13 needs
// none, so goipa must not either. Reads that fall behind the stream's
// window re-read the object from its start. The reversed image stores the
// guest's last MiB first, so the converter, which writes in guest order,
// reads behind the window again and again.
func TestQCOW2NeverRange(t *testing.T) {
	if _, err := exec.LookPath("qemu-io"); err != nil {
		t.Skip("qemu-utils not installed")
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "src.raw")
	if err := os.WriteFile(raw, pattern(40<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	reversed := filepath.Join(dir, "reversed.qcow2")
	qemuImg(t, "create", "-f", "qcow2", reversed, "40M")
	args := []string{"-f", "qcow2"}
	for mib := 39; mib >= 0; mib-- {
		args = append(args, "-c", fmt.Sprintf("write -P %d %dM 1M", mib+1, mib))
	}
	if out, err := exec.Command("qemu-io", append(args, reversed)...).CombinedOutput(); err != nil {
		t.Fatalf("qemu-io: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name  string
		src   string // qcow2 made from raw with args, or this file
		args  []string
		times int
	}{
		{"plain", "", nil, 20},
		{"compressed clusters", "", []string{"-c"}, 1},
		{"reversed", reversed, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.src
			if q == "" {
				q = qcow2Of(t, raw, tc.args...)
			}
			body, wantB := qcow2Pair(t, q)
			s := serve(t, body)
			s.noRange.Store(true)
			for i := range tc.times {
				dev := target(t, 64<<20)
				if _, err := newDeployer().Write(context.Background(), info(s, "qcow2"), dev, ""); err != nil {
					t.Fatalf("deploy %d of %d: %v", i+1, tc.times, err)
				}
				if got := readBack(t, dev, len(wantB)); !bytes.Equal(got, wantB) {
					t.Fatalf("deploy %d of %d: disk differs from qemu-img's conversion", i+1, tc.times)
				}
			}
			t.Logf("%d deploys, %d GETs of the %d-byte image", tc.times, s.gets.Load(), len(body))
		})
	}
}

// TestMetal3DiskFormats deploys what Metal3 sends: disk_format "gpt" for a
// raw whole-disk image, "unknown" for a qcow2 behind an OCI digest URL
// (converted, as IPA does once it has looked at the content).
func TestMetal3DiskFormats(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed")
	}
	img := pattern(6 << 20)
	raw := filepath.Join(t.TempDir(), "src.raw")
	if err := os.WriteFile(raw, img, 0o644); err != nil {
		t.Fatal(err)
	}
	qb, err := os.ReadFile(qcow2Of(t, raw))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		format string
		body   []byte
		want   Format
	}{
		{"gpt", img, Raw},
		{"unknown", img, Raw},
		{"unknown", qb, QCOW2},
	} {
		s := serve(t, tc.body)
		dev := target(t, 16<<20)
		res, err := newDeployer().Write(context.Background(), info(s, tc.format), dev, "")
		if err != nil {
			t.Fatalf("%s holding %s: %v", tc.format, tc.want, err)
		}
		if res.Format != tc.want || !bytes.Equal(readBack(t, dev, len(img)), img) {
			t.Errorf("%s holding %s: written as %s, or the disk differs", tc.format, tc.want, res.Format)
		}
	}
}
