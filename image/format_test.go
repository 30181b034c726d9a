package image

import (
	"errors"
	"testing"
)

func TestSniff(t *testing.T) {
	iso := make([]byte, SniffLen)
	copy(iso[32769:], "CD001")
	vdi := make([]byte, 80)
	copy(vdi[64:], "\x7f\x10\xda\xbe")
	for _, tc := range []struct {
		in   []byte
		want Format
	}{
		{[]byte("QFI\xfb\x00\x00\x00\x03"), QCOW2},
		{[]byte("\x1f\x8b\x08\x00"), GZIP},
		{[]byte("\xfd7zXZ\x00\x00"), XZ},
		{[]byte("\x28\xb5\x2f\xfd\x04"), ZSTD},
		{[]byte("KDMV\x01"), VMDK},
		{[]byte("vhdxfile"), VHDX},
		{vdi, VDI},
		{[]byte("LUKS\xba\xbe\x00\x02"), LUKS},
		{iso, ISO},
		{[]byte("\xeb\x63\x90"), Raw},
		{nil, Raw},
		{[]byte("QF"), Raw},
	} {
		if got := Sniff(tc.in); got != tc.want {
			t.Errorf("Sniff(%q…) = %s, want %s", tc.in[:min(len(tc.in), 8)], got, tc.want)
		}
	}
}

func TestCheckFormat(t *testing.T) {
	all := []string{"raw", "qcow2", "iso"}
	for _, tc := range []struct {
		name           string
		sniffed, outer Format
		diskFormat     string
		permitted      []string
		ok             bool
	}{
		{"raw as raw", Raw, "", "raw", all, true},
		{"qcow2 as qcow2", QCOW2, "", "qcow2", all, true},
		{"qcow2 claiming raw", QCOW2, "", "raw", all, false},
		{"raw claiming qcow2", Raw, "", "qcow2", all, false},
		{"gzip raw", Raw, GZIP, "raw", all, true},
		{"zstd holding qcow2", QCOW2, ZSTD, "qcow2", all, false},
		{"iso as raw", ISO, "", "raw", all, true},
		{"qcow2 not permitted", QCOW2, "", "qcow2", []string{"raw"}, false},
		{"no disk_format", QCOW2, "", "", all, true},
		{"vmdk", VMDK, "", "vmdk", []string{"vmdk"}, false},
		{"luks", LUKS, "", "raw", all, false},
		{"nothing permitted list", Raw, "", "raw", nil, true},
		// Metal3: "gpt" is raw to IPA, "unknown" (OCI digests) skips the
		// mismatch check; the permitted formats still apply.
		{"raw as gpt", Raw, "", "gpt", all, true},
		{"qcow2 claiming gpt", QCOW2, "", "gpt", all, false},
		{"raw as unknown", Raw, "", "unknown", all, true},
		{"qcow2 as unknown", QCOW2, "", "unknown", all, true},
		{"qcow2 as unknown, not permitted", QCOW2, "", "unknown", []string{"raw"}, false},
		{"vmdk as unknown", VMDK, "", "unknown", all, false},
	} {
		err := CheckFormat(tc.sniffed, tc.outer, tc.diskFormat, tc.permitted)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrFormat)) {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestValidateInfo(t *testing.T) {
	good := func() Info {
		return Info{ID: "img", URLs: []string{"http://127.0.0.1/img"}, OSHashAlgo: "sha256", OSHashValue: "ab12"}
	}
	for _, tc := range []struct {
		name string
		mod  func(*Info)
		md5  bool
		ok   bool
	}{
		{"good", func(*Info) {}, false, true},
		{"no id", func(i *Info) { i.ID = "" }, false, false},
		{"no urls", func(i *Info) { i.URLs = nil }, false, false},
		{"ftp url", func(i *Info) { i.URLs = []string{"ftp://x/y"} }, false, false},
		{"hash algo only", func(i *Info) { i.OSHashValue = "" }, false, false},
		{"hash not hex", func(i *Info) { i.OSHashValue = "xyz" }, false, false},
		{"no checksum", func(i *Info) { i.OSHashAlgo, i.OSHashValue = "", "" }, false, false},
		{"checksum url", func(i *Info) { i.OSHashAlgo, i.OSHashValue, i.Checksum = "", "", "https://x/SHA256SUMS" }, false, true},
		{"md5 disabled", func(i *Info) { i.OSHashAlgo, i.OSHashValue, i.Checksum = "", "", "0123456789abcdef0123456789abcdef" }, false, false},
		{"md5 enabled", func(i *Info) { i.OSHashAlgo, i.OSHashValue, i.Checksum = "", "", "0123456789abcdef0123456789abcdef" }, true, true},
		{"bad image type", func(i *Info) { i.ImageType = "lvm" }, false, false},
		{"bad authorization", func(i *Info) { i.ImageRequestAuthorization = "%%%" }, false, false},
	} {
		i := good()
		tc.mod(&i)
		err := i.Validate(tc.md5)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidInfo)) {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
