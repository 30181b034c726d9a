package tlsconf

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

const (
	// DefaultDir is where IPA writes its auto-TLS files.
	DefaultDir = "/run/ironic-python-agent"
	// CertFileName and KeyFileName are the file names WriteFiles uses.
	CertFileName = "agent.crt"
	KeyFileName  = "agent.key"
)

// ErrIncompletePair means a certificate was given without its key or the
// other way round.
var ErrIncompletePair = errors.New("tlsconf: certificate and key must be given together")

// Cert is the agent's server certificate.
type Cert struct {
	// PEM is the certificate chain, leaf first. For an auto-TLS certificate
	// it is what the agent sends as agent_verify_ca.
	PEM []byte
	// KeyPEM is the private key as PKCS #8 PEM.
	KeyPEM []byte
	// TLS is the pair for tls.Config.Certificates, Leaf populated.
	TLS tls.Certificate
}

func newCert(chain [][]byte, key crypto.PrivateKey) (*Cert, error) {
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: encoding private key: %w", err)
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, fmt.Errorf("tlsconf: parsing certificate: %w", err)
	}
	var certPEM []byte
	for _, der := range chain {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return &Cert{
		PEM:    certPEM,
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		TLS:    tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf},
	}, nil
}

// LoadStatic loads the static TLS certificate (IPA's tls_cert_file and
// tls_key_file). The key may be PKCS #1, SEC 1 or PKCS #8; Cert.KeyPEM is
// re-encoded as PKCS #8.
func LoadStatic(certFile, keyFile string) (*Cert, error) {
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("%w (cert %q, key %q)", ErrIncompletePair, certFile, keyFile)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: reading TLS certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: reading TLS key: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: loading TLS certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return newCert(pair.Certificate, pair.PrivateKey)
}

// WriteFiles writes the certificate and key to dir/agent.crt and
// dir/agent.key (mode 0600), creating dir with mode 0700 if needed. Each
// file is replaced atomically so a reader never sees half a key.
func (c *Cert) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("tlsconf: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, CertFileName), c.PEM, 0o644); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, KeyFileName), c.KeyPEM, 0o600)
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("tlsconf: %w", err)
	}
	tmp := f.Name()
	// CreateTemp made it 0600; set the final mode before any data lands.
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("tlsconf: writing %s: %w", path, err)
	}
	return nil
}
