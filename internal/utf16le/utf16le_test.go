package utf16le

import (
	"bytes"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want []byte
	}{
		{"", nil},
		{"EFI", []byte{'E', 0, 'F', 0, 'I', 0}},
		{"é€", []byte{0xe9, 0, 0xac, 0x20}},
		{"\U0001F600", []byte{0x3d, 0xd8, 0x00, 0xde}}, // a surrogate pair
	} {
		if got := Encode(tc.s); !bytes.Equal(got, tc.want) {
			t.Errorf("Encode(%q) = % x, want % x", tc.s, got, tc.want)
		}
		if got := Decode(tc.want); got != tc.s {
			t.Errorf("Decode(% x) = %q, want %q", tc.want, got, tc.s)
		}
	}
	// A GPT name field: the name, a NUL, then whatever the rest holds.
	if got := Decode([]byte{'c', 0, '2', 0, 0, 0, 'x', 0, 'y'}); got != "c2" {
		t.Errorf("Decode stops at NUL: got %q", got)
	}
}
