package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// handshake runs a server and a client over a loopback TCP connection (a
// net.Pipe has no buffer, so a failing side would deadlock writing its
// alert) and returns the client's view of the connection.
func handshake(t *testing.T, server, client *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc, err := ln.Accept()
		if err != nil {
			return
		}
		defer sc.Close()
		sc.SetDeadline(time.Now().Add(10 * time.Second))
		tls.Server(sc, server).Handshake()
	}()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cc.SetDeadline(time.Now().Add(10 * time.Second))
	cli := tls.Client(cc, client)
	err = cli.Handshake()
	cc.Close()
	<-done
	return cli.ConnectionState(), err
}

// conductorClient trusts only the agent's PEM, like the conductor does.
func conductorClient(t *testing.T, c *Cert, maxVersion uint16) *tls.Config {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(c.PEM)
	return &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MaxVersion: maxVersion}
}

func TestServerConfigMinVersion(t *testing.T) {
	c := generate(t, AutoOptions{IP: netip.MustParseAddr("127.0.0.1"), Now: time.Now})
	tests := []struct {
		min       string
		clientMax uint16
		want      uint16 // 0: handshake must fail
	}{
		{"", tls.VersionTLS12, tls.VersionTLS12},
		{"1.2", tls.VersionTLS12, tls.VersionTLS12},
		{"1.2", tls.VersionTLS11, 0},
		{"1.2", 0, tls.VersionTLS13},
		{"1.3", tls.VersionTLS12, 0},
		{"1.3", 0, tls.VersionTLS13},
	}
	for _, tt := range tests {
		t.Run(tt.min+"/client max "+tls.VersionName(tt.clientMax), func(t *testing.T) {
			cfg, err := ServerConfig(c, tt.min, "")
			if err != nil {
				t.Fatal(err)
			}
			client := conductorClient(t, c, tt.clientMax)
			client.MinVersion = tls.VersionTLS10
			state, err := handshake(t, cfg, client)
			if tt.want == 0 {
				if err == nil || !strings.Contains(err.Error(), "protocol version") {
					t.Errorf("handshake = %v (version %s), want protocol version alert", err, tls.VersionName(state.Version))
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if state.Version != tt.want {
				t.Errorf("negotiated %s, want %s", tls.VersionName(state.Version), tls.VersionName(tt.want))
			}
		})
	}
}

func TestServerConfigCipherSuites(t *testing.T) {
	c := generate(t, AutoOptions{IP: netip.MustParseAddr("127.0.0.1"), Now: time.Now})
	tests := []struct {
		name   string
		server string
		client []uint16
		want   uint16 // 0: handshake must fail
	}{
		{"configured suite is used", "ECDHE-ECDSA-CHACHA20-POLY1305", nil, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
		{"default list offers AES-256", "", []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
		{"suite outside the list refused", "ECDHE-ECDSA-AES256-GCM-SHA384", []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ServerConfig(c, "1.2", tt.server)
			if err != nil {
				t.Fatal(err)
			}
			client := conductorClient(t, c, tls.VersionTLS12)
			client.CipherSuites = tt.client
			state, err := handshake(t, cfg, client)
			if tt.want == 0 {
				if err == nil {
					t.Errorf("handshake succeeded with %s, want failure", tls.CipherSuiteName(state.CipherSuite))
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if state.CipherSuite != tt.want {
				t.Errorf("negotiated %s, want %s", tls.CipherSuiteName(state.CipherSuite), tls.CipherSuiteName(tt.want))
			}
		})
	}
}

func TestServerConfigNoClientCert(t *testing.T) {
	c := generate(t, AutoOptions{IP: netip.MustParseAddr("127.0.0.1"), Now: time.Now})
	cfg, err := ServerConfig(c, "", "")
	if err != nil {
		t.Fatal(err)
	}
	requested := false
	client := conductorClient(t, c, 0)
	client.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		requested = true
		return &tls.Certificate{}, nil
	}
	if _, err := handshake(t, cfg, client); err != nil {
		t.Fatal(err)
	}
	if requested {
		t.Error("server requested a client certificate")
	}
}

func TestParseCipherSuites(t *testing.T) {
	tests := []struct {
		in   string
		want []uint16
	}{
		{"", []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		}},
		{"ECDHE-RSA-CHACHA20-POLY1305", []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}},
		{"ECDHE-ECDSA-CHACHA20-POLY1305, ECDHE-RSA-AES128-GCM-SHA256:", []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		}},
	}
	for _, tt := range tests {
		got, err := ParseCipherSuites(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseCipherSuites(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestServerConfigErrors(t *testing.T) {
	c := generate(t, AutoOptions{IP: netip.MustParseAddr("127.0.0.1")})
	tests := []struct {
		name         string
		cert         *Cert
		min, ciphers string
		wantIs       error
		wantText     string
	}{
		{"no cert", nil, "", "", ErrNoCert, ""},
		{"TLS 1.1", c, "1.1", "", ErrTLSVersion, `"1.1"`},
		{"TLS 1.0 spelled out", c, "TLSv1.0", "", ErrTLSVersion, `"TLSv1.0"`},
		{"unknown cipher named", c, "1.2", "ECDHE-ECDSA-AES256-GCM-SHA384:AES256-SHA", ErrUnknownCipher, `"AES256-SHA"`},
		{"cipher keyword", c, "1.2", "HIGH:!aNULL", ErrUnknownCipher, `"HIGH"`},
		{"lower case", c, "1.2", "ecdhe-ecdsa-aes256-gcm-sha384", ErrUnknownCipher, `"ecdhe-ecdsa-aes256-gcm-sha384"`},
		{"TLS 1.3 suite name", c, "1.3", "TLS_AES_256_GCM_SHA384", ErrUnknownCipher, `"TLS_AES_256_GCM_SHA384"`},
		{"only separators", c, "1.2", "::", ErrUnknownCipher, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ServerConfig(tt.cert, tt.min, tt.ciphers)
			if !errors.Is(err, tt.wantIs) || cfg != nil {
				t.Fatalf("ServerConfig = %v, %v; want nil, %v", cfg, err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not name %s", err, tt.wantText)
			}
		})
	}
}
