// Package tlsconf holds the agent's TLS material: the auto-TLS certificate
// whose PEM Ironic's conductor uses as its CA bundle (agent_verify_ca), a
// static certificate from files, the server configuration of the agent API
// and the client configuration for the agent's calls to Ironic and image
// servers.
package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"strings"
	"time"
)

const (
	// DefaultCurve is IPA's tls_certificate_curve default.
	DefaultCurve = "p384"
	// DefaultClockSkew is IPA's auto_tls_allowed_clock_skew: notBefore is
	// back-dated by this much so a conductor whose clock lags still accepts
	// the certificate.
	DefaultClockSkew = time.Hour
	// Validity is the lifetime IPA gives its auto-TLS certificate.
	Validity = 30 * 24 * time.Hour

	// RFC 5280 ub-common-name; longer CNs are not valid X.509.
	maxCommonName = 64
)

var (
	// ErrNoAddress means AutoOptions.IP was not set.
	ErrNoAddress = errors.New("tlsconf: no advertise IP address for the certificate")
	// ErrUnknownCurve means AutoOptions.Curve is not p256, p384 or p521.
	ErrUnknownCurve = errors.New("tlsconf: unknown certificate curve")
	// ErrKeyCurve means AutoOptions.Key is not on AutoOptions.Curve.
	ErrKeyCurve = errors.New("tlsconf: key on another curve")
)

var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// AutoOptions configures Generate.
type AutoOptions struct {
	// IP is the address the agent advertises to Ironic (its callback URL
	// host); it becomes the only subjectAltName. Required.
	IP netip.Addr
	// Hostname is the subject CN; empty means os.Hostname.
	Hostname string
	// Curve is "p256", "p384" or "p521"; empty means DefaultCurve.
	Curve string
	// ClockSkew back-dates notBefore; zero means DefaultClockSkew.
	ClockSkew time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Key is a key made beforehand by GenerateKey for Curve (key generation
	// is the slow part under emulation, and needs no address); nil means
	// Generate makes one.
	Key *ecdsa.PrivateKey
}

// GenerateKey makes an auto-TLS key on the named curve.
func GenerateKey(curveName string) (*ecdsa.PrivateKey, error) {
	curve, err := parseCurve(curveName)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: generating %s key: %w", curve.Params().Name, err)
	}
	return key, nil
}

// Generate creates a self-signed ECDSA certificate for opts.IP, as IPA's
// auto-TLS does, but well formed enough for strict verifiers (Python ≥ 3.13
// sets VERIFY_X509_STRICT by default and the conductor verifies the agent
// with this very PEM as its only trust anchor).
//
// The certificate is an end entity (CA:FALSE, keyUsage digitalSignature).
// Tested against OpenSSL 3.0.19 through Python 3.11 and 3.13 with
// VERIFY_X509_STRICT, and `openssl verify -x509_strict`: CA:TRUE (with or
// without keyCertSign) and CA:FALSE are all accepted, because OpenSSL skips
// the RFC 5280 profile checks for a chain of one self-signed certificate
// (RFC 6818 §2); even IPA's bare certificate passes. What strict mode does
// reject is keyUsage keyCertSign without basicConstraints ("invalid CA
// certificate"), and without Python 3.13's default VERIFY_X509_PARTIAL_CHAIN
// an AKI that differs from the SKI makes the certificate not self-signed
// ("unable to get local issuer certificate"). CA:FALSE wins because it is
// least privilege (the key cannot mint other certificates the conductor
// would trust) and because other verifiers refuse a CA certificate as the
// server certificate (mozilla::pkix CA_CERT_USED_AS_END_ENTITY, webpki
// CaUsedAsEndEntity). SKI, AKI = SKI, critical basicConstraints and
// extKeyUsage serverAuth keep it within the RFC 5280 profile for linters
// and future, stricter verifiers.
func Generate(opts AutoOptions) (*Cert, error) {
	if !opts.IP.IsValid() {
		return nil, ErrNoAddress
	}
	curve, err := parseCurve(opts.Curve)
	if err != nil {
		return nil, err
	}
	hostname := opts.Hostname
	if hostname == "" {
		if hostname, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("tlsconf: hostname for certificate CN: %w", err)
		}
	}
	if len(hostname) > maxCommonName {
		hostname = hostname[:maxCommonName]
	}
	skew := opts.ClockSkew
	if skew == 0 {
		skew = DefaultClockSkew
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}

	key := opts.Key
	if key == nil {
		if key, err = GenerateKey(opts.Curve); err != nil {
			return nil, err
		}
	} else if key.Curve != curve {
		return nil, fmt.Errorf("%w: key is %s, want %s", ErrKeyCurve, key.Curve.Params().Name, curve.Params().Name)
	}
	ski, err := subjectKeyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	san, err := ipSAN(opts.IP)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("tlsconf: certificate serial: %w", err)
	}
	// Fixed length and never zero (RFC 5280 wants a positive serial).
	serial.SetBit(serial, 127, 1)

	t := now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hostname},
		NotBefore:             t.Add(-skew),
		NotAfter:              t.Add(Validity),
		SignatureAlgorithm:    x509.ECDSAWithSHA512,
		BasicConstraintsValid: true,
		IsCA:                  false,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		SubjectKeyId:          ski,
		AuthorityKeyId:        ski,
		// crypto/x509 marks the SAN critical only for an empty subject;
		// IPA marks it critical regardless, so build it by hand.
		ExtraExtensions: []pkix.Extension{{Id: oidSubjectAltName, Critical: true, Value: san}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: creating certificate: %w", err)
	}
	return newCert([][]byte{der}, key)
}

func parseCurve(name string) (elliptic.Curve, error) {
	switch strings.ToLower(name) {
	case "p256":
		return elliptic.P256(), nil
	case "", "p384":
		return elliptic.P384(), nil
	case "p521":
		return elliptic.P521(), nil
	}
	return nil, fmt.Errorf("%w %q (want p256, p384 or p521)", ErrUnknownCurve, name)
}

// subjectKeyID follows RFC 7093 §2 method 1: the leftmost 160 bits of the
// SHA-256 of the subjectPublicKey bits.
func subjectKeyID(pub *ecdsa.PublicKey) ([]byte, error) {
	point, err := pub.Bytes()
	if err != nil {
		return nil, fmt.Errorf("tlsconf: encoding public key: %w", err)
	}
	sum := sha256.Sum256(point)
	return sum[:20], nil
}

// ipSAN encodes a subjectAltName holding one iPAddress GeneralName.
func ipSAN(ip netip.Addr) ([]byte, error) {
	// An IPv4-mapped IPv6 address is the IPv4 host; a 16-byte SAN would not
	// match it.
	raw := ip.Unmap().AsSlice()
	der, err := asn1.Marshal([]asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 7, Bytes: raw}})
	if err != nil {
		return nil, fmt.Errorf("tlsconf: encoding subjectAltName: %w", err)
	}
	return der, nil
}
