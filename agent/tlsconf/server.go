package tlsconf

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
)

// DefaultCipherSuites is IPA's TLS 1.2 cipher list (utils.create_ssl_context).
const DefaultCipherSuites = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:" +
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"

var (
	// ErrTLSVersion means a minimum TLS version other than 1.2 or 1.3.
	ErrTLSVersion = errors.New("tlsconf: unsupported minimum TLS version")
	// ErrUnknownCipher means a cipher suite name with no Go equivalent.
	ErrUnknownCipher = errors.New("tlsconf: unknown or unsupported cipher suite")
	// ErrNoCert means ServerConfig got no certificate.
	ErrNoCert = errors.New("tlsconf: no server certificate")
)

// opensslCiphers maps OpenSSL TLS 1.2 cipher names to Go's suites. Go does
// not let TLS 1.3 suites be configured; they are always the secure three.
var opensslCiphers = map[string]uint16{
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ServerConfig builds the agent API's TLS configuration as IPA's
// create_ssl_context does: minVersion "1.2" (also for "") or "1.3",
// cipherSuites an OpenSSL cipher list for TLS 1.2 ("" = DefaultCipherSuites),
// no client certificates requested.
func ServerConfig(cert *Cert, minVersion, cipherSuites string) (*tls.Config, error) {
	if cert == nil {
		return nil, ErrNoCert
	}
	version, err := ParseMinVersion(minVersion)
	if err != nil {
		return nil, err
	}
	suites, err := ParseCipherSuites(cipherSuites)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert.TLS},
		MinVersion:   version,
		CipherSuites: suites,
		ClientAuth:   tls.NoClientCert,
	}, nil
}

// ParseMinVersion maps IPA's tls_min_version ("1.2", "1.3"; "" = "1.2") to
// a tls.Version constant.
func ParseMinVersion(s string) (uint16, error) {
	switch s {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("%w %q (want 1.2 or 1.3)", ErrTLSVersion, s)
}

// ParseCipherSuites maps an OpenSSL cipher list ("" = DefaultCipherSuites)
// to Go suite IDs, in order. Like OpenSSL it accepts ':', ',' and spaces as
// separators; cipher-string keywords (HIGH, !aNULL, …) are not supported.
func ParseCipherSuites(s string) ([]uint16, error) {
	if strings.TrimSpace(s) == "" {
		s = DefaultCipherSuites
	}
	names := strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == ',' || r == ' ' })
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: empty list %q", ErrUnknownCipher, s)
	}
	suites := make([]uint16, 0, len(names))
	for _, name := range names {
		id, ok := opensslCiphers[name]
		if !ok {
			return nil, fmt.Errorf("%w %q", ErrUnknownCipher, name)
		}
		suites = append(suites, id)
	}
	return suites, nil
}
