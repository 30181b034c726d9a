package tlsconf

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFiles(t *testing.T) {
	c := generate(t, AutoOptions{IP: netip.MustParseAddr("192.0.2.10")})
	dir := filepath.Join(t.TempDir(), "run", "ironic-python-agent")
	if err := c.WriteFiles(dir); err != nil {
		t.Fatalf("WriteFiles: %v", err)
	}
	for _, f := range []struct {
		path string
		mode fs.FileMode
		want []byte
	}{
		{dir, fs.ModeDir | 0o700, nil},
		{filepath.Join(dir, "agent.crt"), 0o644, c.PEM},
		{filepath.Join(dir, "agent.key"), 0o600, c.KeyPEM},
	} {
		st, err := os.Stat(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != f.mode {
			t.Errorf("%s mode = %v, want %v", f.path, st.Mode(), f.mode)
		}
		if f.want == nil {
			continue
		}
		if got, _ := os.ReadFile(f.path); !bytes.Equal(got, f.want) {
			t.Errorf("%s content differs from the Cert's PEM", f.path)
		}
	}

	// A regenerated certificate replaces the old files and leaves no temporaries.
	next := generate(t, AutoOptions{IP: netip.MustParseAddr("192.0.2.10")})
	if err := next.WriteFiles(dir); err != nil {
		t.Fatalf("second WriteFiles: %v", err)
	}
	loaded, err := LoadStatic(filepath.Join(dir, CertFileName), filepath.Join(dir, KeyFileName))
	if err != nil {
		t.Fatalf("LoadStatic of written files: %v", err)
	}
	if !bytes.Equal(loaded.PEM, next.PEM) || !bytes.Equal(loaded.KeyPEM, next.KeyPEM) {
		t.Errorf("files do not hold the second certificate")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("dir holds %d entries, want agent.crt and agent.key only", len(entries))
	}
}

func TestWriteFilesUnwritableDir(t *testing.T) {
	c := generate(t, AutoOptions{IP: netip.MustParseAddr("192.0.2.10")})
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFiles(filepath.Join(file, "sub")); err == nil {
		t.Error("WriteFiles under a regular file succeeded")
	}
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadStatic(t *testing.T) {
	c := generate(t, AutoOptions{IP: netip.MustParseAddr("192.0.2.10")})
	// Operators often hold SEC 1 ("EC PRIVATE KEY") keys; KeyPEM is PKCS #8 regardless.
	key := c.TLS.PrivateKey.(*ecdsa.PrivateKey)
	sec1, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile := writeTemp(t, "tls.crt", c.PEM)
	keyFile := writeTemp(t, "tls.key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))

	got, err := LoadStatic(certFile, keyFile)
	if err != nil {
		t.Fatalf("LoadStatic: %v", err)
	}
	if !bytes.Equal(got.PEM, c.PEM) || !bytes.Equal(got.KeyPEM, c.KeyPEM) {
		t.Errorf("LoadStatic PEMs differ from the generated ones")
	}
	if got.TLS.Leaf == nil || !got.TLS.Leaf.Equal(c.TLS.Leaf) {
		t.Errorf("LoadStatic Leaf not populated with the certificate")
	}
}

func TestLoadStaticErrors(t *testing.T) {
	c := generate(t, AutoOptions{IP: netip.MustParseAddr("192.0.2.10")})
	certFile := writeTemp(t, "tls.crt", c.PEM)
	keyFile := writeTemp(t, "tls.key", c.KeyPEM)
	otherKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherDER, _ := x509.MarshalPKCS8PrivateKey(otherKey)
	wrongKey := writeTemp(t, "wrong.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: otherDER}))
	garbage := writeTemp(t, "garbage.crt", []byte("not a certificate\n"))
	missing := filepath.Join(t.TempDir(), "missing.crt")

	tests := []struct {
		name      string
		cert, key string
		wantIs    error
		wantText  string
	}{
		{"no key", certFile, "", ErrIncompletePair, ""},
		{"no cert", "", keyFile, ErrIncompletePair, ""},
		{"missing cert", missing, keyFile, fs.ErrNotExist, "missing.crt"},
		{"missing key", certFile, missing, fs.ErrNotExist, "missing.crt"},
		{"garbage cert", garbage, keyFile, nil, "garbage.crt"},
		{"key does not match", certFile, wrongKey, nil, "wrong.key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadStatic(tt.cert, tt.key)
			if err == nil || got != nil {
				t.Fatalf("LoadStatic = %v, %v; want error", got, err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v, want errors.Is %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not name %q", err, tt.wantText)
			}
		})
	}
}
