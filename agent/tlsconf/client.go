package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// ErrNoCertificates means a CA file held no PEM certificate.
var ErrNoCertificates = errors.New("tlsconf: no PEM certificates")

// ClientConfig builds the TLS configuration for the agent's own calls to
// Ironic and image servers (IPA's insecure, cafile, certfile and keyfile).
// Servers are verified against the system roots plus caFile, a PEM bundle,
// when given. insecure disables verification and, as in IPA, then caFile is
// not read. certFile and keyFile, if given, are the client certificate.
func ClientConfig(insecure bool, caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if insecure {
		cfg.InsecureSkipVerify = true
	} else if caFile != "" {
		roots, err := loadRoots(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = roots
	}
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return nil, fmt.Errorf("%w (client cert %q, key %q)", ErrIncompletePair, certFile, keyFile)
		}
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("tlsconf: loading client certificate %s with key %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// loadRoots returns the system roots plus the certificates in caFile.
func loadRoots(caFile string) (*x509.CertPool, error) {
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: reading CA file: %w", err)
	}
	// SystemCertPool fails only on an unusable system store (a missing one
	// is just empty); caFile alone is then the trust store.
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("%w in CA file %s", ErrNoCertificates, caFile)
	}
	return roots, nil
}
