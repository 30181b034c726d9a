// Package shacrypt is crypt(3)'s SHA-256 ($5$) and SHA-512 ($6$) password
// hashing, after Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512":
// the formats Ironic's conductor hashes rescue passwords in
// ([conductor]rescue_password_hash_algorithm) and glibc's crypt checks.
package shacrypt

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

var (
	// ErrUnsupported is a hash of another crypt(3) method ($1$, $2b$, $y$…).
	ErrUnsupported = errors.New("unsupported crypt method")
	// ErrMalformed is a $5$/$6$ hash that does not parse.
	ErrMalformed = errors.New("malformed crypt hash")
)

const (
	defaultRounds = 5000
	minRounds     = 1000
	maxRounds     = 999_999_999
	maxSalt       = 16
	alphabet      = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// method is one of the two SHA variants: its prefix, hash and the order in
// which the final digest's bytes are encoded (the spec's b64_from_24bit
// calls; a group of two is the tail).
type method struct {
	prefix string
	new    func() hash.Hash
	order  [][]int
}

var sha256Method = method{"$5$", sha256.New, [][]int{
	{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14},
	{15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29}, {31, 30},
}}

var sha512Method = method{"$6$", sha512.New, [][]int{
	{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4},
	{47, 5, 26}, {6, 27, 48}, {28, 49, 7}, {50, 8, 29}, {9, 30, 51},
	{31, 52, 10}, {53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35},
	{15, 36, 57}, {37, 58, 16}, {59, 17, 38}, {18, 39, 60}, {40, 61, 19},
	{62, 20, 41}, {63},
}}

// settings is a parsed "$N$[rounds=R$]salt" prefix.
type settings struct {
	m        method
	rounds   int
	explicit bool // rounds= was given, so it is part of the output
	salt     string
}

// parse reads the method, rounds and salt of a hash or setting string.
func parse(s string) (settings, error) {
	var st settings
	switch {
	case strings.HasPrefix(s, sha256Method.prefix):
		st.m = sha256Method
	case strings.HasPrefix(s, sha512Method.prefix):
		st.m = sha512Method
	default:
		return st, ErrUnsupported
	}
	rest := s[len(st.m.prefix):]
	st.rounds = defaultRounds
	if r, ok := strings.CutPrefix(rest, "rounds="); ok {
		n, tail, ok := strings.Cut(r, "$")
		v, err := strconv.ParseUint(n, 10, 64)
		if !ok || err != nil {
			return st, fmt.Errorf("%w: rounds %q", ErrMalformed, n)
		}
		st.rounds, st.explicit, rest = int(min(max(v, minRounds), maxRounds)), true, tail
	}
	st.salt, _, _ = strings.Cut(rest, "$")
	if len(st.salt) > maxSalt {
		st.salt = st.salt[:maxSalt]
	}
	return st, nil
}

// Crypt hashes password with the method, rounds and salt of setting, as
// crypt(3) does: Crypt(pw, hash) == hash when pw is the password.
func Crypt(password, setting string) (string, error) {
	st, err := parse(setting)
	if err != nil {
		return "", err
	}
	return st.hash(password), nil
}

// New hashes password with SHA-512, a random 16-character salt and the
// default rounds.
func New(password string) (string, error) {
	salt := make([]byte, maxSalt)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	for i, b := range salt {
		salt[i] = alphabet[b&0x3f]
	}
	return Crypt(password, sha512Method.prefix+string(salt))
}

// Check parses a hash without a password: its method, settings and a
// digest of the method's length in crypt's alphabet.
func Check(hash string) error {
	st, err := parse(hash)
	if err != nil {
		return err
	}
	i := strings.LastIndexByte(hash, '$')
	digest := hash[i+1:]
	if i < len(st.m.prefix) || len(digest) != st.m.encodedLen() || strings.Trim(digest, alphabet) != "" {
		return fmt.Errorf("%w: no %d-character digest", ErrMalformed, st.m.encodedLen())
	}
	return nil
}

// Verify reports whether password matches the crypt hash, in constant time
// for a given hash.
func Verify(hash, password string) (bool, error) {
	if err := Check(hash); err != nil {
		return false, err
	}
	st, _ := parse(hash)
	return subtle.ConstantTimeCompare([]byte(st.hash(password)), []byte(hash)) == 1, nil
}

// encodedLen is the length of the digest's text: 43 for SHA-256, 86 for SHA-512.
func (m method) encodedLen() int {
	n := 0
	for _, g := range m.order {
		n += len(g) + 1
	}
	return n
}

func (st settings) hash(password string) string {
	p, s := []byte(password), []byte(st.salt)
	h := st.m.new()

	// Digest B: password, salt, password.
	h.Write(p)
	h.Write(s)
	h.Write(p)
	b := h.Sum(nil)

	// Digest A: password, salt, B stretched to the password's length, then
	// B or the password for each bit of that length.
	h.Reset()
	h.Write(p)
	h.Write(s)
	h.Write(repeat(b, len(p)))
	for n := len(p); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write(b)
		} else {
			h.Write(p)
		}
	}
	a := h.Sum(nil)

	// P and S sequences: digests of the password repeated len(p) times and
	// of the salt repeated 16+A[0] times, cut to the inputs' lengths.
	h.Reset()
	for range len(p) {
		h.Write(p)
	}
	pseq := repeat(h.Sum(nil), len(p))
	h.Reset()
	for range 16 + int(a[0]) {
		h.Write(s)
	}
	sseq := h.Sum(nil)[:len(s)]

	c := a
	for i := range st.rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(pseq)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(sseq)
		}
		if i%7 != 0 {
			h.Write(pseq)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(pseq)
		}
		c = h.Sum(c[:0:0])
	}

	var out strings.Builder
	out.WriteString(st.m.prefix)
	if st.explicit {
		fmt.Fprintf(&out, "rounds=%d$", st.rounds)
	}
	out.WriteString(st.salt)
	out.WriteByte('$')
	for _, g := range st.m.order {
		// The spec packs each group into 24 bits, first index highest.
		var w uint32
		for _, i := range g {
			w = w<<8 | uint32(c[i])
		}
		for range len(g) + 1 {
			out.WriteByte(alphabet[w&0x3f])
			w >>= 6
		}
	}
	return out.String()
}

// repeat returns d repeated to n bytes, the last copy cut short.
func repeat(d []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, d[:min(len(d), n-len(out))]...)
	}
	return out
}
