// Package utf16le converts between strings and UTF-16 little-endian bytes,
// the encoding of GPT partition names, UEFI variables and device paths, and
// Windows-made text files such as BOOTX64.CSV.
package utf16le

import (
	"encoding/binary"
	"unicode/utf16"
)

// Encode returns s as UTF-16LE, without a terminator.
func Encode(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

// Decode reads UTF-16LE up to the first NUL or the end of b (an odd last
// byte is ignored).
func Decode(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}
