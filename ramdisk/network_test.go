package ramdisk

import (
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/rfc1035label"
)

func TestResolvConfFor(t *testing.T) {
	ns := []net.IP{net.ParseIP("10.0.2.3"), net.ParseIP("192.0.2.53")}
	tests := []struct {
		name   string
		search *rfc1035label.Labels
		domain string
		want   string
	}{
		{name: "servers only", want: "nameserver 10.0.2.3\nnameserver 192.0.2.53\n"},
		{name: "domain and search", search: &rfc1035label.Labels{Labels: []string{"a.example", "example"}}, domain: "a.example",
			want: "domain a.example\nnameserver 10.0.2.3\nnameserver 192.0.2.53\nsearch a.example example\n"},
		{name: "empty search list", search: &rfc1035label.Labels{}, want: "nameserver 10.0.2.3\nnameserver 192.0.2.53\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(resolvConfFor(ns, tt.search, tt.domain)); got != tt.want {
				t.Errorf("resolv.conf =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
