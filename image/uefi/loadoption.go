package uefi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/goipa/goipa/internal/utf16le"
)

// ErrBadLoadOption is returned for a Boot#### variable that is not an
// EFI_LOAD_OPTION.
var ErrBadLoadOption = errors.New("malformed load option")

// LoadOptionActive marks a load option the boot manager may start.
const LoadOptionActive = 0x00000001

// LoadOption is an EFI_LOAD_OPTION, the contents of a Boot#### variable.
type LoadOption struct {
	Attributes  uint32
	Description string
	// FilePaths are the option's device paths; the first one names the
	// loader.
	FilePaths    []DevicePath
	OptionalData []byte
}

// ParseLoadOption decodes a Boot#### variable's data: attributes (UINT32),
// FilePathListLength (UINT16), the NUL-terminated UCS-2 description, the
// device path list, then optional data up to the end.
func ParseLoadOption(b []byte) (*LoadOption, error) {
	if len(b) < 6 {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadLoadOption, len(b))
	}
	o := &LoadOption{Attributes: binary.LittleEndian.Uint32(b)}
	pathLen := int(binary.LittleEndian.Uint16(b[4:]))
	end := -1
	for i := 6; i+1 < len(b); i += 2 {
		if b[i] == 0 && b[i+1] == 0 {
			end = i
			break
		}
	}
	if end < 0 {
		return nil, fmt.Errorf("%w: unterminated description", ErrBadLoadOption)
	}
	o.Description = utf16le.Decode(b[6:end])
	paths := b[end+2:]
	if pathLen > len(paths) {
		return nil, fmt.Errorf("%w: device paths claim %d bytes, %d left", ErrBadLoadOption, pathLen, len(paths))
	}
	var err error
	if o.FilePaths, err = parseDevicePaths(paths[:pathLen]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadLoadOption, err)
	}
	if len(paths) > pathLen {
		o.OptionalData = paths[pathLen:]
	}
	return o, nil
}

// MarshalBinary encodes the option as ParseLoadOption reads it.
func (o *LoadOption) MarshalBinary() ([]byte, error) {
	var paths []byte
	for _, p := range o.FilePaths {
		paths = p.appendTo(paths)
	}
	if len(paths) > 0xffff {
		return nil, fmt.Errorf("%w: device paths of %d bytes", ErrBadLoadOption, len(paths))
	}
	b := binary.LittleEndian.AppendUint32(nil, o.Attributes)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(paths)))
	b = append(b, encodeUCS2(o.Description)...)
	b = append(b, paths...)
	return append(b, o.OptionalData...), nil
}

// Active reports LOAD_OPTION_ACTIVE: efibootmgr marks such entries with *.
func (o *LoadOption) Active() bool { return o.Attributes&LoadOptionActive != 0 }

// PathString is the device path list as efibootmgr -v prints it after the
// description.
func (o *LoadOption) PathString() string {
	s := make([]string, len(o.FilePaths))
	for i, p := range o.FilePaths {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}
