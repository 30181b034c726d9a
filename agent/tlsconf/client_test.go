package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ironicServer is a TLS server certificate for 127.0.0.1, standing in for
// Ironic's API or an image server with a private CA.
func ironicServer(t *testing.T) (*Cert, *tls.Config) {
	t.Helper()
	c := generate(t, AutoOptions{IP: netip.MustParseAddr("127.0.0.1"), Now: time.Now})
	cfg, err := ServerConfig(c, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return c, cfg
}

func TestClientConfigVerification(t *testing.T) {
	srv, srvCfg := ironicServer(t)
	other := generate(t, AutoOptions{IP: netip.MustParseAddr("127.0.0.1"), Now: time.Now})
	caFile := writeTemp(t, "ca.pem", srv.PEM)
	otherCA := writeTemp(t, "other.pem", other.PEM)

	tests := []struct {
		name     string
		insecure bool
		caFile   string
		ok       bool
	}{
		{"CA file trusts the server", false, caFile, true},
		{"system roots only", false, "", false},
		{"unrelated CA file", false, otherCA, false},
		{"insecure", true, "", true},
		{"insecure ignores even a missing CA file", true, filepath.Join(t.TempDir(), "missing.pem"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ClientConfig(tt.insecure, tt.caFile, "", "")
			if err != nil {
				t.Fatalf("ClientConfig: %v", err)
			}
			if cfg.InsecureSkipVerify != tt.insecure {
				t.Errorf("InsecureSkipVerify = %v, want %v", cfg.InsecureSkipVerify, tt.insecure)
			}
			cfg.ServerName = "127.0.0.1"
			_, err = handshake(t, srvCfg, cfg)
			var unknown x509.UnknownAuthorityError
			switch {
			case tt.ok && err != nil:
				t.Errorf("handshake: %v", err)
			case !tt.ok && !errors.As(err, &unknown):
				t.Errorf("handshake = %v, want x509.UnknownAuthorityError", err)
			}
		})
	}
}

func TestClientConfigClientCert(t *testing.T) {
	srv, srvCfg := ironicServer(t)
	client := generate(t, AutoOptions{IP: netip.MustParseAddr("192.0.2.10"), Hostname: "agent"})
	certFile := writeTemp(t, "client.crt", client.PEM)
	keyFile := writeTemp(t, "client.key", client.KeyPEM)

	cfg, err := ClientConfig(false, writeTemp(t, "ca.pem", srv.PEM), certFile, keyFile)
	if err != nil {
		t.Fatalf("ClientConfig: %v", err)
	}
	if len(cfg.Certificates) != 1 || !client.TLS.Leaf.Equal(mustLeaf(t, cfg.Certificates[0])) {
		t.Fatalf("Certificates = %v, want the client certificate", cfg.Certificates)
	}

	// A server asking for a certificate receives it.
	srvCfg.ClientAuth = tls.RequestClientCert
	var presented [][]byte
	srvCfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		presented = raw
		return nil
	}
	cfg.ServerName = "127.0.0.1"
	if _, err := handshake(t, srvCfg, cfg); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if len(presented) != 1 || string(presented[0]) != string(client.TLS.Certificate[0]) {
		t.Errorf("server saw %d client certificates, want the configured one", len(presented))
	}
}

func mustLeaf(t *testing.T, c tls.Certificate) *x509.Certificate {
	t.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func TestClientConfigErrors(t *testing.T) {
	c := generate(t, AutoOptions{IP: netip.MustParseAddr("192.0.2.10")})
	certFile := writeTemp(t, "client.crt", c.PEM)
	keyFile := writeTemp(t, "client.key", c.KeyPEM)
	notPEM := writeTemp(t, "ca.pem", []byte("-----BEGIN NOTHING-----\n"))
	missing := filepath.Join(t.TempDir(), "missing.pem")

	tests := []struct {
		name              string
		caFile, cert, key string
		wantIs            error
		wantText          string
	}{
		{"missing CA file", missing, "", "", fs.ErrNotExist, "missing.pem"},
		{"CA file without certificates", notPEM, "", "", ErrNoCertificates, "ca.pem"},
		{"cert without key", "", certFile, "", ErrIncompletePair, "client.crt"},
		{"key without cert", "", "", keyFile, ErrIncompletePair, "client.key"},
		{"key is not a cert", "", keyFile, keyFile, nil, "client.key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ClientConfig(false, tt.caFile, tt.cert, tt.key)
			if err == nil || cfg != nil {
				t.Fatalf("ClientConfig = %v, %v; want error", cfg, err)
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
