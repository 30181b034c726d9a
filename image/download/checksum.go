package download

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/url"
	"path"
	"regexp"
	"strings"
)

// ChecksumSpec holds the checksum fields of Ironic's image_info.
type ChecksumSpec struct {
	// Checksum is image_info's checksum: a hex digest (algorithm chosen by
	// length), "algo:hexdigest", or an http(s) URL of a checksums file.
	Checksum string
	// OSHashAlgo and OSHashValue, when both set, win over Checksum.
	OSHashAlgo, OSHashValue string
	// MD5Enabled is the agent's md5_enabled; without it MD5 is refused.
	MD5Enabled bool
	// ImageURL's basename selects the line of a checksums file.
	ImageURL string
}

// Verifier checks an image's digest.
type Verifier struct {
	// Algorithm is the hashlib name of the algorithm, e.g. "sha256".
	Algorithm string
	want      []byte
	newHash   func() hash.Hash
}

// Hash returns a new hash for one pass over the image; a restarted
// download takes a fresh one.
func (v *Verifier) Hash() hash.Hash { return v.newHash() }

// Expected is the expected digest in hex.
func (v *Verifier) Expected() string { return hex.EncodeToString(v.want) }

// Verify compares sum, the result of Hash().Sum(nil), with the expected
// digest; a difference wraps ErrChecksumMismatch.
func (v *Verifier) Verify(sum []byte) error {
	if !bytes.Equal(sum, v.want) {
		return fmt.Errorf("%w: %s expected %x, got %x", ErrChecksumMismatch, v.Algorithm, v.want, sum)
	}
	return nil
}

// hashes are the algorithms of Python's hashlib that have a fixed size and
// a Go standard implementation, by hashlib name.
var hashes = map[string]func() hash.Hash{
	"md5":        md5.New,
	"sha1":       sha1.New,
	"sha224":     sha256.New224,
	"sha256":     sha256.New,
	"sha384":     sha512.New384,
	"sha512":     sha512.New,
	"sha512_224": sha512.New512_224,
	"sha512_256": sha512.New512_256,
	"sha3_224":   func() hash.Hash { return sha3.New224() },
	"sha3_256":   func() hash.Hash { return sha3.New256() },
	"sha3_384":   func() hash.Hash { return sha3.New384() },
	"sha3_512":   func() hash.Hash { return sha3.New512() },
}

// byLength picks the algorithm of a bare hex digest, as IPA does.
var byLength = map[int]string{32: "md5", 64: "sha256", 128: "sha512"}

// maxChecksumFile caps a downloaded checksums file; real ones are a few KiB.
const maxChecksumFile = 1 << 20

// ParseChecksum decides how the image is verified: os_hash_algo and
// os_hash_value if both are set, else checksum. Either value may be the
// http(s) URL of a checksums file (Metal3 passes its checksum URL through
// as os_hash_value); it is downloaded with opts (URLs replaced) and the
// line for the image's file name taken, as IPA does.
func ParseChecksum(ctx context.Context, spec ChecksumSpec, opts Options) (*Verifier, error) {
	algo, sum := spec.OSHashAlgo, strings.TrimSpace(spec.OSHashValue)
	if algo == "" || sum == "" {
		algo, sum = "", strings.TrimSpace(spec.Checksum)
	}
	if sum == "" {
		return nil, fmt.Errorf("%w: neither checksum nor os_hash_algo and os_hash_value given", ErrChecksum)
	}
	if strings.HasPrefix(sum, "http://") || strings.HasPrefix(sum, "https://") {
		src := sum
		data, err := fetchSmall(ctx, src, opts)
		if err != nil {
			return nil, fmt.Errorf("checksums file: %w", err)
		}
		fileAlgo, fileSum, err := parseChecksumFile(data, imageName(spec.ImageURL))
		if err != nil {
			return nil, fmt.Errorf("checksums file %s: %w", redactString(src), err)
		}
		sum = fileSum
		if fileAlgo != "" {
			algo = fileAlgo
		}
	} else if a, v, ok := strings.Cut(sum, ":"); ok && algo == "" {
		algo, sum = a, v
	}
	if algo == "" {
		if algo = byLength[len(sum)]; algo == "" {
			return nil, fmt.Errorf("%w: a %d-character checksum matches no algorithm (32 md5, 64 sha256, 128 sha512)", ErrChecksum, len(sum))
		}
	}
	return newVerifier(algo, sum, spec.MD5Enabled)
}

func newVerifier(algo, value string, md5Enabled bool) (*Verifier, error) {
	name := hashName(algo)
	newHash, ok := hashes[name]
	if !ok {
		return nil, fmt.Errorf("%w: unsupported algorithm %q", ErrChecksum, algo)
	}
	if name == "md5" && !md5Enabled {
		return nil, fmt.Errorf("%w: MD5 checksums are disabled (md5_enabled=False); use sha256 or sha512", ErrChecksum)
	}
	want, err := hex.DecodeString(strings.ToLower(strings.TrimSpace(value)))
	if err != nil {
		return nil, fmt.Errorf("%w: %s value %q is not hex", ErrChecksum, name, value)
	}
	if size := newHash().Size(); len(want) != size {
		return nil, fmt.Errorf("%w: %s value has %d hex digits, want %d", ErrChecksum, name, 2*len(want), 2*size)
	}
	return &Verifier{Algorithm: name, want: want, newHash: newHash}, nil
}

// hashName maps "SHA256", "SHA-256", "sha3-256" and the like to hashlib
// names.
func hashName(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.ReplaceAll(s, "-", "_")
	for _, p := range []string{"sha3_", "sha512_"} {
		if strings.HasPrefix(s, p) {
			return s
		}
	}
	return strings.ReplaceAll(s, "_", "")
}

func imageName(imageURL string) string {
	u, err := url.Parse(imageURL)
	if err != nil {
		return ""
	}
	return path.Base(u.Path)
}

// bsdLine is a "SHA256 (name) = hash" line, as written by --tag.
var bsdLine = regexp.MustCompile(`^([A-Za-z0-9_/-]+) ?\((.*)\) ?= ?([0-9A-Fa-f]+)$`)

// parseChecksumFile returns the digest for name from a checksums file: a
// single bare hash, or sha256sum-style "<hash>  <name>" / "<hash> *<name>"
// lines, or BSD-style lines, which also name the algorithm. Names match by
// basename; lines starting with # are comments.
func parseChecksumFile(data []byte, name string) (algo, sum string, err error) {
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return "", "", fmt.Errorf("%w: empty checksums file", ErrChecksum)
	}
	if len(lines) == 1 && !strings.ContainsAny(lines[0], " \t") {
		return "", lines[0], nil
	}
	for _, l := range lines {
		if m := bsdLine.FindStringSubmatch(l); m != nil {
			if path.Base(m[2]) == name {
				return m[1], m[3], nil
			}
			continue
		}
		i := strings.IndexAny(l, " \t")
		if i < 0 {
			continue
		}
		// sha256sum prefixes the hash with a backslash when it escaped
		// the name, and the name with * in binary mode.
		sum := strings.TrimPrefix(l[:i], "\\")
		file := strings.TrimPrefix(strings.TrimLeft(l[i:], " \t"), "*")
		if path.Base(file) == name {
			return "", sum, nil
		}
	}
	return "", "", fmt.Errorf("%w: no line for %q", ErrChecksum, name)
}

// fetchSmall downloads u, at most maxChecksumFile bytes, with the image's
// network options.
func fetchSmall(ctx context.Context, u string, opts Options) ([]byte, error) {
	opts.URLs = []string{u}
	s, err := Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if s.Size() > maxChecksumFile {
		return nil, fmt.Errorf("image download: %s is %d bytes, more than %d", redactString(u), s.Size(), maxChecksumFile)
	}
	data, err := io.ReadAll(io.LimitReader(s, maxChecksumFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxChecksumFile {
		return nil, fmt.Errorf("image download: %s is more than %d bytes", redactString(u), maxChecksumFile)
	}
	return data, nil
}
