package uefi

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrBadGUID is returned for a GUID that is not 8-4-4-4-12 hex digits.
var ErrBadGUID = errors.New("malformed GUID")

// GUID is a GUID in UEFI's byte order: the first three fields
// little-endian, the last eight bytes as written, as in a GPT entry.
type GUID [16]byte

// GlobalVariable is EFI_GLOBAL_VARIABLE, the vendor of Boot####,
// BootOrder and BootCurrent.
var GlobalVariable = MustParseGUID("8be4df61-93ca-11d2-aa0d-00e098032b8c")

// ParseGUID reads the text form, e.g. a GPT partition's PARTUUID.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	h := strings.ReplaceAll(s, "-", "")
	if len(s) != 36 || len(h) != 32 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("%w: %q", ErrBadGUID, s)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return g, fmt.Errorf("%w: %q", ErrBadGUID, s)
	}
	binary.LittleEndian.PutUint32(g[0:], binary.BigEndian.Uint32(b[0:]))
	binary.LittleEndian.PutUint16(g[4:], binary.BigEndian.Uint16(b[4:]))
	binary.LittleEndian.PutUint16(g[6:], binary.BigEndian.Uint16(b[6:]))
	copy(g[8:], b[8:])
	return g, nil
}

// MustParseGUID is ParseGUID for constants.
func MustParseGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// String is the lower-case text form, as efibootmgr and the efivarfs
// file names write it.
func (g GUID) String() string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", binary.LittleEndian.Uint32(g[0:]), binary.LittleEndian.Uint16(g[4:]),
		binary.LittleEndian.Uint16(g[6:]), g[8:10], g[10:])
}
