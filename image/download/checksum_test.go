package download

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func hexString(b []byte) string { return hex.EncodeToString(b) }

var (
	image     = []byte("the image bytes\n")
	imgMD5    = md5.Sum(image)
	imgSHA256 = sha256.Sum256(image)
	imgSHA384 = sha512.Sum384(image)
	imgSHA512 = sha512.Sum512(image)
	md5Hex    = hexString(imgMD5[:])
	sha256Hex = hexString(imgSHA256[:])
	sha384Hex = hexString(imgSHA384[:])
	sha512Hex = hexString(imgSHA512[:])
)

// checkVerifier asserts v accepts image's digest and rejects another.
func checkVerifier(t *testing.T, v *Verifier, algo string) {
	t.Helper()
	if v.Algorithm != algo {
		t.Errorf("Algorithm = %q, want %q", v.Algorithm, algo)
	}
	h := v.Hash()
	h.Write(image)
	if err := v.Verify(h.Sum(nil)); err != nil {
		t.Errorf("Verify(right digest) = %v", err)
	}
	h = v.Hash()
	h.Write([]byte("other bytes"))
	if err := v.Verify(h.Sum(nil)); !errors.Is(err, ErrChecksumMismatch) {
		t.Errorf("Verify(wrong digest) = %v, want ErrChecksumMismatch", err)
	}
}

func TestParseChecksumValue(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec ChecksumSpec
		algo string // empty: an error is wanted
	}{
		{name: "sha256 by length", spec: ChecksumSpec{Checksum: sha256Hex}, algo: "sha256"},
		{name: "upper-case hex", spec: ChecksumSpec{Checksum: strings.ToUpper(sha256Hex)}, algo: "sha256"},
		{name: "surrounding space", spec: ChecksumSpec{Checksum: " " + sha512Hex + "\n"}, algo: "sha512"},
		{name: "sha512 by length", spec: ChecksumSpec{Checksum: sha512Hex}, algo: "sha512"},
		{name: "md5 enabled", spec: ChecksumSpec{Checksum: md5Hex, MD5Enabled: true}, algo: "md5"},
		{name: "md5 disabled", spec: ChecksumSpec{Checksum: md5Hex}},
		{name: "algo prefix", spec: ChecksumSpec{Checksum: "sha384:" + sha384Hex}, algo: "sha384"},
		{name: "os_hash_algo wins", spec: ChecksumSpec{Checksum: md5Hex, OSHashAlgo: "sha512", OSHashValue: sha512Hex}, algo: "sha512"},
		{name: "os_hash_algo sha384", spec: ChecksumSpec{OSHashAlgo: "SHA384", OSHashValue: sha384Hex}, algo: "sha384"},
		{name: "os_hash_algo md5 disabled", spec: ChecksumSpec{OSHashAlgo: "md5", OSHashValue: md5Hex}},
		{name: "os_hash_algo unknown", spec: ChecksumSpec{OSHashAlgo: "whirlpool", OSHashValue: sha512Hex}},
		{name: "os_hash value of the wrong size", spec: ChecksumSpec{OSHashAlgo: "sha256", OSHashValue: sha512Hex}},
		{name: "os_hash_value missing", spec: ChecksumSpec{OSHashAlgo: "sha256", Checksum: sha256Hex}, algo: "sha256"},
		{name: "bad length", spec: ChecksumSpec{Checksum: sha256Hex[:40]}},
		{name: "not hex", spec: ChecksumSpec{Checksum: strings.Repeat("zz", 32)}},
		{name: "nothing", spec: ChecksumSpec{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseChecksum(context.Background(), tc.spec, Options{})
			if tc.algo == "" {
				if !errors.Is(err, ErrChecksum) {
					t.Fatalf("err = %v, want ErrChecksum", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkVerifier(t, v, tc.algo)
		})
	}
}

func TestParseChecksumMD5DisabledMessage(t *testing.T) {
	_, err := ParseChecksum(context.Background(), ChecksumSpec{Checksum: md5Hex}, Options{})
	if err == nil || !strings.Contains(err.Error(), "md5_enabled") {
		t.Errorf("err = %v, want it to name md5_enabled", err)
	}
}

func TestVerifyMismatchMessage(t *testing.T) {
	v, err := ParseChecksum(context.Background(), ChecksumSpec{Checksum: sha256Hex}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	other := sha256.Sum256([]byte("truncated"))
	err = v.Verify(other[:])
	if !errors.Is(err, ErrChecksumMismatch) || !strings.Contains(err.Error(), sha256Hex) || !strings.Contains(err.Error(), hexString(other[:])) {
		t.Errorf("err = %v, want ErrChecksumMismatch naming both digests", err)
	}
	if v.Expected() != sha256Hex {
		t.Errorf("Expected() = %s", v.Expected())
	}
}

func TestParseChecksumURL(t *testing.T) {
	files := map[string]string{
		"/bare":      sha256Hex + "\n",
		"/sha256sum": fmt.Sprintf("# comment\n%s  other.img\n%s  disk.img\n", sha512Hex[:64], sha256Hex),
		"/binary":    fmt.Sprintf("%s *other.img\n%s *disk.img\n", sha512Hex[:64], strings.ToUpper(sha256Hex)),
		"/paths":     fmt.Sprintf("%s  ./other/disk.img.sig\n%s  ./images/disk.img\n", sha256Hex, sha512Hex),
		"/tab":       fmt.Sprintf("%s\tdisk.img\n", sha256Hex),
		"/bsd":       fmt.Sprintf("SHA256 (other.img) = %s\nSHA384 (disk.img) = %s\n", sha256Hex, sha384Hex),
		"/bsd-md5":   fmt.Sprintf("MD5 (disk.img) = %s\n", md5Hex),
		"/wrongname": fmt.Sprintf("%s  disk.img.old\n%s  other.img\n", sha256Hex, sha256Hex),
		"/empty":     "\n# nothing\n\n",
		"/huge":      strings.Repeat("#", maxChecksumFile+10),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(f))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		file string
		md5  bool
		algo string // empty: an error
		is   error
	}{
		{file: "/bare", algo: "sha256"},
		{file: "/sha256sum", algo: "sha256"},
		{file: "/binary", algo: "sha256"},
		{file: "/paths", algo: "sha512"},
		{file: "/tab", algo: "sha256"},
		{file: "/bsd", algo: "sha384"},
		{file: "/bsd-md5", is: ErrChecksum},
		{file: "/bsd-md5", md5: true, algo: "md5"},
		{file: "/wrongname", is: ErrChecksum},
		{file: "/empty", is: ErrChecksum},
		{file: "/huge"},
		{file: "/missing", is: ErrHTTPClient},
	} {
		t.Run(tc.file, func(t *testing.T) {
			opts, _ := testOptions(t)
			spec := ChecksumSpec{Checksum: srv.URL + tc.file, ImageURL: "http://images.example.com/x/disk.img?temp_url_sig=1", MD5Enabled: tc.md5}
			v, err := ParseChecksum(context.Background(), spec, opts)
			if tc.algo == "" {
				if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
					t.Fatalf("err = %v, want %v", err, tc.is)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkVerifier(t, v, tc.algo)
		})
	}
}

// TestParseOSHashValueURL: Metal3 passes its checksum URL through as
// os_hash_value; the file's line for the image names the digest, of
// os_hash_algo's algorithm unless the line (BSD style) names its own.
func TestParseOSHashValueURL(t *testing.T) {
	files := map[string]string{
		"/SHA256SUMS": fmt.Sprintf("%s  other.img\n%s  disk.img\n", sha512Hex[:64], sha256Hex),
		"/SHA512SUMS": fmt.Sprintf("%s  disk.img\n", sha512Hex),
		"/bsd":        fmt.Sprintf("SHA384 (disk.img) = %s\n", sha384Hex),
		"/bare":       sha256Hex,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(files[r.URL.Path]))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		file, algo, want string
	}{
		{"/SHA256SUMS", "sha256", "sha256"},
		{"/SHA512SUMS", "sha512", "sha512"},
		{"/bsd", "sha256", "sha384"},
		{"/bare", "sha256", "sha256"},
		{"/SHA512SUMS", "sha256", ""}, // 128 hex digits are no sha256
	} {
		opts, _ := testOptions(t)
		spec := ChecksumSpec{OSHashAlgo: tc.algo, OSHashValue: srv.URL + tc.file, ImageURL: "http://x/images/disk.img"}
		v, err := ParseChecksum(context.Background(), spec, opts)
		if tc.want == "" {
			if !errors.Is(err, ErrChecksum) {
				t.Errorf("%s as %s: err = %v, want ErrChecksum", tc.file, tc.algo, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s as %s: %v", tc.file, tc.algo, err)
		}
		checkVerifier(t, v, tc.want)
	}
}

func TestParseChecksumFileUsesImageOptions(t *testing.T) {
	srv := newImageServer(t, []byte(sha256Hex))
	srv.auth = "Bearer tok"
	opts, _ := testOptions(t)
	opts.Authorization = "Bearer tok"
	v, err := ParseChecksum(context.Background(), ChecksumSpec{Checksum: srv.url(), ImageURL: "http://x/disk.img"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkVerifier(t, v, "sha256")
}

func TestHashName(t *testing.T) {
	for in, want := range map[string]string{
		"SHA256": "sha256", "sha-256": "sha256", "SHA384": "sha384", "sha3-256": "sha3_256",
		"SHA3_512": "sha3_512", "sha512-256": "sha512_256", "MD5": "md5", "sha1": "sha1",
	} {
		if got := hashName(in); got != want {
			t.Errorf("hashName(%q) = %q, want %q", in, got, want)
		}
	}
}
