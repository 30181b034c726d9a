package ramdisk

import (
	"net"
	"slices"
	"testing"
)

// ra builds a router advertisement with flags and options.
func ra(flags byte, opts ...[]byte) []byte {
	b := []byte{icmpv6RA, 0, 0, 0, 64, flags, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0}
	for _, o := range opts {
		b = append(b, o...)
	}
	return b
}

func rdnss(lifetime byte, ips ...string) []byte {
	o := []byte{raOptRDNSS, byte(1 + 2*len(ips)), 0, 0, 0, 0, 0, lifetime}
	for _, ip := range ips {
		o = append(o, net.ParseIP(ip).To16()...)
	}
	return o
}

// prefixInfo is a 32-byte prefix information option (fd00::/64, L and A).
var prefixInfo = append([]byte{3, 4, 64, 0xc0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0}, net.ParseIP("fd00::").To16()...)

func TestParseRA(t *testing.T) {
	for _, tc := range []struct {
		name           string
		in             []byte
		managed, other bool
		dns            []string
		wantErr        bool
	}{
		{"SLAAC only", ra(0, prefixInfo), false, false, nil, false},
		{"managed", ra(raFlagManaged, prefixInfo), true, false, nil, false},
		{"other", ra(raFlagOther), false, true, nil, false},
		{"RDNSS", ra(raFlagOther, prefixInfo, rdnss(60, "fd00::53", "fd00::54")), false, true, []string{"fd00::53", "fd00::54"}, false},
		{"RDNSS withdrawn", ra(0, rdnss(0, "fd00::53")), false, false, nil, false},
		{"zero-length option", ra(0, []byte{3, 0}), false, false, nil, true},
		{"option past the end", ra(0, []byte{3, 4, 0, 0}), false, false, nil, true},
		{"too short", []byte{icmpv6RA, 0, 0}, false, false, nil, true},
		{"not an RA", []byte{135, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, false, false, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRA(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			var dns []string
			for _, ip := range got.dns {
				dns = append(dns, ip.String())
			}
			if got.managed != tc.managed || got.other != tc.other || !slices.Equal(dns, tc.dns) {
				t.Errorf("parseRA = %+v (dns %q), want managed %v other %v dns %q", got, dns, tc.managed, tc.other, tc.dns)
			}
		})
	}
}
