package burnin

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
)

// pattern is a position-dependent pseudo-random byte stream: the bytes at
// an offset depend on the key and the offset, so data written to the wrong
// place, left from an earlier pass, or altered in any bit fails the
// comparison. It is AES-CTR keystream, several GB/s with AES instructions.
type pattern struct {
	block    cipher.Block
	keyBytes []byte
	invert   bool
}

func newPattern() *pattern {
	key := make([]byte, 32)
	rand.Read(key)
	return patternFromKey(key)
}

func patternFromKey(key []byte) *pattern {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // the key is always 32 bytes
	}
	return &pattern{block: b, keyBytes: key}
}

// fill writes the pattern for [off, off+len(b)) into b; off is a multiple
// of 16.
func (p *pattern) fill(b []byte, off int64) {
	var iv [aes.BlockSize]byte
	binary.BigEndian.PutUint64(iv[8:], uint64(off/aes.BlockSize))
	clear(b)
	cipher.NewCTR(p.block, iv[:]).XORKeyStream(b, b)
	if p.invert {
		for i := range b {
			b[i] = ^b[i]
		}
	}
}

// mismatch compares got with want and describes the first difference:
// where (base is the offset of got[0]), and how many bytes differ.
func mismatch(got, want []byte, base int64) error {
	if bytes.Equal(got, want) {
		return nil
	}
	first, n := -1, 0
	for i := range got {
		if got[i] != want[i] {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	return fmt.Errorf("%w at offset %d: read %#02x, wrote %#02x (%d of %d bytes differ)",
		ErrMismatch, base+int64(first), got[first], want[first], n, len(got))
}
