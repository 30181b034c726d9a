package ramdisk

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/rfc1035label"
)

func TestEnableIPv6(t *testing.T) {
	conf := t.TempDir()
	if err := os.MkdirAll(filepath.Join(conf, "eth0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := enableIPv6(conf, "eth0"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct{ key, want string }{{"disable_ipv6", "0"}, {"accept_ra", "1"}, {"autoconf", "1"}} {
		b, err := os.ReadFile(filepath.Join(conf, "eth0", s.key))
		if err != nil || string(b) != s.want {
			t.Errorf("%s = %q (%v), want %q", s.key, b, err, s.want)
		}
	}
	if err := enableIPv6(conf, "gone0"); err == nil {
		t.Error("no error for a NIC without sysctls")
	}
}

func TestWriteResolv6(t *testing.T) {
	search := &rfc1035label.Labels{Labels: []string{"example.org"}}
	for _, tc := range []struct {
		name, before, want string
	}{
		{"IPv6 only", "", "nameserver fd00::53\nsearch example.org\n"},
		{"empty file", "# none\n", "nameserver fd00::53\nsearch example.org\n"},
		{"IPv4 lease first", "nameserver 10.0.2.3\n", "nameserver 10.0.2.3\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "resolv.conf")
			if tc.before != "" {
				if err := os.WriteFile(p, []byte(tc.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := writeResolv6(p, []net.IP{net.ParseIP("fd00::53")}, search); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(p); string(b) != tc.want {
				t.Errorf("resolv.conf = %q, want %q", b, tc.want)
			}
		})
	}
}

func TestWaitPrimary(t *testing.T) {
	lease := &dhcpv4.DHCPv4{}
	closed := make(chan struct{})
	close(closed)
	for _, tc := range []struct {
		name      string
		lease     bool          // a DHCPv4 lease is waiting
		v6        chan struct{} // nil: IPv6 never ready
		wantLease bool
	}{
		{"DHCPv4 lease", true, nil, true},
		{"IPv6 only", false, closed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			primary := make(chan *dhcpv4.DHCPv4, 1)
			if tc.lease {
				primary <- lease
			}
			got, err := waitPrimary(context.Background(), primary, tc.v6)
			if err != nil || (got != nil) != tc.wantLease {
				t.Errorf("waitPrimary = %v, %v; want lease %v", got, err, tc.wantLease)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := waitPrimary(ctx, make(chan *dhcpv4.DHCPv4), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waitPrimary without network = %v, want the context's end", err)
	}
}
