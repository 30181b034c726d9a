package tlsconf

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// epoch is a whole second: X.509 times have no sub-second part.
var epoch = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func generate(t *testing.T, opts AutoOptions) *Cert {
	t.Helper()
	if opts.Hostname == "" {
		opts.Hostname = "agent-host"
	}
	if opts.Now == nil {
		opts.Now = fixedClock(epoch)
	}
	c, err := Generate(opts)
	if err != nil {
		t.Fatalf("Generate(%+v): %v", opts, err)
	}
	return c
}

// verify checks c's PEM as the only root, as the conductor does with
// agent_verify_ca, for host at the given time.
func verify(t *testing.T, c *Cert, host string, at time.Time) error {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(c.PEM) {
		t.Fatalf("PEM holds no certificate:\n%s", c.PEM)
	}
	_, err := c.TLS.Leaf.Verify(x509.VerifyOptions{
		Roots:       roots,
		DNSName:     host,
		CurrentTime: at,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

func TestGenerateVerifiesForItsIPOnly(t *testing.T) {
	tests := []struct {
		ip, other string
	}{
		{"192.0.2.10", "192.0.2.11"},
		{"127.0.0.1", "::1"},
		{"2001:db8::7", "2001:db8::8"},
		{"::1", "127.0.0.1"},
		{"::ffff:198.51.100.4", "::ffff:c633:6405"},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			ip := netip.MustParseAddr(tt.ip)
			c := generate(t, AutoOptions{IP: ip})
			host := ip.Unmap().String()
			if err := verify(t, c, host, epoch); err != nil {
				t.Errorf("verify for %s: %v", host, err)
			}
			other := netip.MustParseAddr(tt.other).Unmap().String()
			var hostErr x509.HostnameError
			if err := verify(t, c, other, epoch); !errors.As(err, &hostErr) {
				t.Errorf("verify for %s = %v, want x509.HostnameError", other, err)
			}
		})
	}
}

func TestGenerateCertificateFields(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.10")
	c := generate(t, AutoOptions{IP: ip, Hostname: "node-1.example"})
	leaf := c.TLS.Leaf

	if leaf.Subject.CommonName != "node-1.example" {
		t.Errorf("CN = %q, want node-1.example", leaf.Subject.CommonName)
	}
	if !bytes.Equal(leaf.RawSubject, leaf.RawIssuer) {
		t.Errorf("issuer %v != subject %v, want self-signed", leaf.Issuer, leaf.Subject)
	}
	// CheckSignatureFrom refuses a CA:FALSE parent, so check the bare signature.
	if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
		t.Errorf("self-signature: %v", err)
	}
	if leaf.SignatureAlgorithm != x509.ECDSAWithSHA512 {
		t.Errorf("signature algorithm = %v, want ECDSA-SHA512", leaf.SignatureAlgorithm)
	}
	if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(ip.AsSlice()) || len(leaf.IPAddresses[0]) != 4 {
		t.Errorf("SAN IPs = %v, want exactly 4-byte %v", leaf.IPAddresses, ip)
	}
	if len(leaf.DNSNames) != 0 {
		t.Errorf("SAN DNS names = %v, want none", leaf.DNSNames)
	}
	critical := map[string]bool{}
	for _, ext := range leaf.Extensions {
		critical[ext.Id.String()] = ext.Critical
	}
	for oid, want := range map[string]bool{
		"2.5.29.17": true,  // subjectAltName
		"2.5.29.19": true,  // basicConstraints
		"2.5.29.15": true,  // keyUsage
		"2.5.29.37": false, // extKeyUsage
		"2.5.29.14": false, // subjectKeyIdentifier
		"2.5.29.35": false, // authorityKeyIdentifier
	} {
		got, ok := critical[oid]
		if !ok {
			t.Errorf("extension %s missing", oid)
		} else if got != want {
			t.Errorf("extension %s critical = %v, want %v", oid, got, want)
		}
	}
	if len(leaf.SubjectKeyId) != 20 || !bytes.Equal(leaf.AuthorityKeyId, leaf.SubjectKeyId) {
		t.Errorf("SKI %x, AKI %x: want 20-byte SKI equal to AKI", leaf.SubjectKeyId, leaf.AuthorityKeyId)
	}
	if !leaf.BasicConstraintsValid || leaf.IsCA {
		t.Errorf("basicConstraints valid=%v CA=%v, want present CA:FALSE", leaf.BasicConstraintsValid, leaf.IsCA)
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("keyUsage = %b, want digitalSignature only", leaf.KeyUsage)
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("extKeyUsage = %v, want serverAuth", leaf.ExtKeyUsage)
	}
	if n := leaf.SerialNumber.BitLen(); n != 128 {
		t.Errorf("serial has %d bits, want 128", n)
	}
	if again := generate(t, AutoOptions{IP: ip}); again.TLS.Leaf.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Errorf("two certificates share serial %x", leaf.SerialNumber)
	}
}

func TestGenerateKeyPEMIsPKCS8OfCertKey(t *testing.T) {
	c := generate(t, AutoOptions{IP: netip.MustParseAddr("192.0.2.10")})
	block, rest := pem.Decode(c.KeyPEM)
	if block == nil || block.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("KeyPEM is not a single PKCS#8 PEM block:\n%s", c.KeyPEM)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("ParsePKCS8PrivateKey: %v", err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || !ec.PublicKey.Equal(c.TLS.Leaf.PublicKey) {
		t.Errorf("KeyPEM key (%T) does not match the certificate's public key", key)
	}
	certBlock, rest := pem.Decode(c.PEM)
	if certBlock == nil || certBlock.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 ||
		!bytes.Equal(certBlock.Bytes, c.TLS.Certificate[0]) {
		t.Errorf("PEM is not exactly the leaf certificate:\n%s", c.PEM)
	}
}

func TestGenerateCurve(t *testing.T) {
	tests := []struct {
		curve, want string
	}{
		{"", "P-384"},
		{"p256", "P-256"},
		{"p384", "P-384"},
		{"P521", "P-521"},
	}
	for _, tt := range tests {
		t.Run(tt.curve, func(t *testing.T) {
			c := generate(t, AutoOptions{IP: netip.MustParseAddr("192.0.2.10"), Curve: tt.curve})
			pub, ok := c.TLS.Leaf.PublicKey.(*ecdsa.PublicKey)
			if !ok {
				t.Fatalf("public key is %T, want ECDSA", c.TLS.Leaf.PublicKey)
			}
			if got := pub.Curve.Params().Name; got != tt.want {
				t.Errorf("curve = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestGenerateValidityWindow(t *testing.T) {
	tests := []struct {
		name       string
		skew       time.Duration
		wantBefore time.Time
	}{
		{"default skew", 0, epoch.Add(-time.Hour)},
		{"custom skew", 10 * time.Minute, epoch.Add(-10 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := generate(t, AutoOptions{IP: netip.MustParseAddr("192.0.2.10"), ClockSkew: tt.skew})
			leaf := c.TLS.Leaf
			if !leaf.NotBefore.Equal(tt.wantBefore) {
				t.Errorf("notBefore = %v, want %v", leaf.NotBefore, tt.wantBefore)
			}
			if want := epoch.Add(30 * 24 * time.Hour); !leaf.NotAfter.Equal(want) {
				t.Errorf("notAfter = %v, want %v", leaf.NotAfter, want)
			}
		})
	}
}

// The conductor's clock decides: a lagging clock within the skew still
// accepts the certificate, one beyond it or past 30 days does not.
func TestGenerateClock(t *testing.T) {
	c := generate(t, AutoOptions{IP: netip.MustParseAddr("192.0.2.10")})
	tests := []struct {
		name  string
		at    time.Time
		valid bool
	}{
		{"now", epoch, true},
		{"conductor 59m behind", epoch.Add(-59 * time.Minute), true},
		{"not yet valid", epoch.Add(-time.Hour - time.Second), false},
		{"last day", epoch.Add(30*24*time.Hour - time.Second), true},
		{"expired", epoch.Add(30*24*time.Hour + time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verify(t, c, "192.0.2.10", tt.at)
			if tt.valid {
				if err != nil {
					t.Errorf("verify at %v: %v", tt.at, err)
				}
				return
			}
			var invalid x509.CertificateInvalidError
			if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
				t.Errorf("verify at %v = %v, want CertificateInvalidError(Expired)", tt.at, err)
			}
		})
	}
}

func TestGenerateLongHostnameTruncated(t *testing.T) {
	long := strings.Repeat("h", 80)
	c := generate(t, AutoOptions{IP: netip.MustParseAddr("192.0.2.10"), Hostname: long})
	if got := c.TLS.Leaf.Subject.CommonName; got != long[:64] {
		t.Errorf("CN = %q (%d chars), want the first 64 characters", got, len(got))
	}
}

// A key made ahead of the address (at agent start) is the certificate's key.
func TestGenerateWithKeyMadeAhead(t *testing.T) {
	key, err := GenerateKey("p384")
	if err != nil {
		t.Fatal(err)
	}
	c := generate(t, AutoOptions{IP: netip.MustParseAddr("192.0.2.10"), Hostname: "h", Key: key})
	leaf := c.TLS.Leaf
	if !key.PublicKey.Equal(leaf.PublicKey) {
		t.Error("certificate does not carry the key made ahead")
	}
	if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
		t.Errorf("self-signature with the key made ahead: %v", err)
	}
}

func TestGenerateErrors(t *testing.T) {
	p256, err := GenerateKey("p256")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts AutoOptions
		want error
	}{
		{"no IP", AutoOptions{Hostname: "h"}, ErrNoAddress},
		{"unknown curve", AutoOptions{IP: netip.MustParseAddr("192.0.2.10"), Curve: "p224"}, ErrUnknownCurve},
		{"key on another curve", AutoOptions{IP: netip.MustParseAddr("192.0.2.10"), Curve: "p384", Key: p256}, ErrKeyCurve},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Generate(tt.opts)
			if !errors.Is(err, tt.want) || c != nil {
				t.Errorf("Generate = %v, %v; want nil, %v", c, err, tt.want)
			}
		})
	}
}
