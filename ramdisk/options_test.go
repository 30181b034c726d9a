package ramdisk

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseOptionsNetwork(t *testing.T) {
	tests := []struct {
		name    string
		cmdline map[string]string
		want    *staticNet
		err     string
	}{
		{name: "dhcp by default", cmdline: map[string]string{}},
		{name: "explicit dhcp", cmdline: map[string]string{"goipa.net": "dhcp"}},
		{name: "static defaults to QEMU's user network", cmdline: map[string]string{"goipa.net": "static"},
			want: &staticNet{addr: netip.MustParsePrefix("10.0.2.15/24"), gw: netip.MustParseAddr("10.0.2.2")}},
		{name: "address implies static", cmdline: map[string]string{"goipa.ip": "192.0.2.7/25", "goipa.gw": "192.0.2.1"},
			want: &staticNet{addr: netip.MustParsePrefix("192.0.2.7/25"), gw: netip.MustParseAddr("192.0.2.1")}},
		{name: "address without gateway", cmdline: map[string]string{"goipa.net": "static", "goipa.ip": "2001:db8::5/64"},
			want: &staticNet{addr: netip.MustParsePrefix("2001:db8::5/64")}},
		{name: "unknown mode", cmdline: map[string]string{"goipa.net": "bootp"}, err: `goipa.net="bootp": invalid kernel parameter: want dhcp or static`},
		{name: "dhcp with address", cmdline: map[string]string{"goipa.net": "dhcp", "goipa.ip": "10.0.0.2/8"}, err: "goipa.net=dhcp with goipa.ip: invalid kernel parameter"},
		{name: "address without prefix", cmdline: map[string]string{"goipa.ip": "10.0.0.2"}, err: `goipa.ip="10.0.0.2": invalid kernel parameter: want ADDR/PREFIX`},
		{name: "gateway alone", cmdline: map[string]string{"goipa.gw": "10.0.0.1"}, err: "goipa.gw without goipa.ip: invalid kernel parameter"},
		{name: "static gateway alone", cmdline: map[string]string{"goipa.net": "static", "goipa.gw": "10.0.0.1"}, err: "goipa.gw without goipa.ip: invalid kernel parameter"},
		{name: "bad gateway", cmdline: map[string]string{"goipa.ip": "10.0.0.2/8", "goipa.gw": "ten"}, err: `goipa.gw="ten": invalid kernel parameter`},
		{name: "gateway of the other family", cmdline: map[string]string{"goipa.ip": "10.0.0.2/8", "goipa.gw": "fe80::1"}, err: `goipa.gw="fe80::1" is not in the family of 10.0.0.2/8: invalid kernel parameter`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.cmdline)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err || !errors.Is(err, ErrBadOption) {
					t.Fatalf("err = %v, want %q wrapping ErrBadOption", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(o.static, tt.want) {
				t.Errorf("static = %+v, want %+v", o.static, tt.want)
			}
		})
	}
}

func TestParseOptionsBootIF(t *testing.T) {
	tests := []struct {
		raw, want, err string
	}{
		{raw: "01-52-54-00-12-34-56", want: "52:54:00:12:34:56"},
		{raw: "52:54:00:AB:cd:EF", want: "52:54:00:ab:cd:ef"},
		{raw: "06-52-54-00-12-34-56", err: `hardware type "06" is not Ethernet (01)`},
		{raw: "01-52-54-00-12", err: "want"},
		{raw: "", err: "want"},
		{raw: "00:11:22:33:44:55:66:77", err: "want"}, // EUI-64 is no Ethernet MAC
	}
	for _, tt := range tests {
		o, err := parseOptions(map[string]string{"BOOTIF": tt.raw})
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrBadOption) {
				t.Errorf("BOOTIF=%q: err = %v, want one containing %q", tt.raw, err, tt.err)
			}
			continue
		}
		if err != nil || o.bootMAC.String() != tt.want {
			t.Errorf("BOOTIF=%q: got %v, %v; want %s", tt.raw, o.bootMAC, err, tt.want)
		}
	}
}

func TestParseOptionsOthers(t *testing.T) {
	o, err := parseOptions(map[string]string{
		"modprobe.blacklist": "mlx5-core,ice",
		"goipa.hostname":     "node-7.example.org",
	})
	if err != nil {
		t.Fatal(err)
	}
	// ntp_server is the config's (kernel line or file), in Setup's ntp.
	if want := []string{"192.0.2.1", "ntp.example.org:10123"}; !reflect.DeepEqual(splitList(" 192.0.2.1, ntp.example.org:10123,,"), want) {
		t.Errorf("ntp servers = %q, want %q", splitList(" 192.0.2.1, ntp.example.org:10123,,"), want)
	}
	if want := map[string]bool{"mlx5_core": true, "ice": true}; !reflect.DeepEqual(o.blacklist, want) {
		t.Errorf("blacklist = %v, want %v", o.blacklist, want)
	}
	if o.hostname != "node-7.example.org" {
		t.Errorf("hostname = %q", o.hostname)
	}

	for _, bad := range []string{"-node", "node_7", "a..b", strings.Repeat("a", 64), "héllo"} {
		if _, err := parseOptions(map[string]string{"goipa.hostname": bad}); !errors.Is(err, ErrBadOption) {
			t.Errorf("goipa.hostname=%q: err = %v, want ErrBadOption", bad, err)
		}
	}
}
