package tlsconf

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const python = "/usr/bin/python3"

// strictClient is what Ironic's conductor does with agent_verify_ca:
// trust exactly that PEM, with Python ≥ 3.13's default strict X.509 checks.
// Before 3.13 there is also no default VERIFY_X509_PARTIAL_CHAIN, so an
// older Python additionally proves OpenSSL sees the certificate as
// self-signed (AKI matching SKI), which Debian 12's Ironic relies on.
const strictClient = `
import os, socket, ssl, sys
ctx = ssl.create_default_context(cadata=os.environ["AGENT_VERIFY_CA"])
ctx.verify_flags |= ssl.VERIFY_X509_STRICT
if sys.argv[2] == "1.2":
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as sock:
    with ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
        print(tls.version(), tls.cipher()[0])
`

// serveTLS accepts connections on an ephemeral loopback port and completes
// handshakes until the test ends.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				conn.(*tls.Conn).Handshake()
			}()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func runStrictClient(t *testing.T, pemData []byte, port, maxVersion string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", strictClient, port, maxVersion)
	cmd.Env = append(os.Environ(), "AGENT_VERIFY_CA="+string(pemData))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func TestPythonStrictVerification(t *testing.T) {
	if _, err := os.Stat(python); err != nil {
		t.Skipf("%s not available: %v", python, err)
	}
	tests := []struct {
		name       string
		certIP     string
		curve      string
		maxVersion string
		wantProto  string
	}{
		{"TLS1.3 p384", "127.0.0.1", "", "1.3", "TLSv1.3 TLS_AES_"},
		// Go picks the suite itself (AES-128 or -256 GCM, by hardware).
		{"TLS1.2 default ciphers", "127.0.0.1", "", "1.2", "TLSv1.2 ECDHE-ECDSA-AES"},
		{"TLS1.3 p256", "127.0.0.1", "p256", "1.3", "TLSv1.3 TLS_AES_"},
		{"TLS1.3 p521", "127.0.0.1", "p521", "1.3", "TLSv1.3 TLS_AES_"},
		{"other IP", "192.0.2.10", "", "1.3", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := generate(t, AutoOptions{IP: netip.MustParseAddr(tt.certIP), Curve: tt.curve, Now: time.Now})
			cfg, err := ServerConfig(c, "", "")
			if err != nil {
				t.Fatal(err)
			}
			port := serveTLS(t, cfg)
			out, err := runStrictClient(t, c.PEM, port, tt.maxVersion)
			if tt.wantProto == "" {
				var exit *exec.ExitError
				if !errors.As(err, &exit) || !strings.Contains(out, "CERTIFICATE_VERIFY_FAILED") ||
					!strings.Contains(out, "IP address mismatch") {
					t.Errorf("python with a certificate for %s: err=%v, output:\n%s\nwant IP address mismatch",
						tt.certIP, err, out)
				}
				return
			}
			if err != nil {
				t.Fatalf("python strict client failed: %v\n%s", err, out)
			}
			if !strings.HasPrefix(out, tt.wantProto) {
				t.Errorf("python negotiated %q, want prefix %q", strings.TrimSpace(out), tt.wantProto)
			}
		})
	}
}
