package hardware

import (
	"io"
	"log/slog"
	"slices"
	"testing"
)

func TestLLDPVLANs(t *testing.T) {
	tests := []struct {
		name string
		tlvs []TLV
		want []int
	}{
		{name: "none"},
		{name: "VLAN names 100 and 4094", tlvs: []TLV{
			{Type: 1, Hex: "04525400123456"},
			{Type: 127, Hex: "0080c2030064" + "0476313030"},
			{Type: 127, Hex: "0080C2030FFE" + "00"},
		}, want: []int{100, 4094}},
		{name: "port VLAN ID subtype is not a VLAN name", tlvs: []TLV{{Type: 127, Hex: "0080c2010064"}}},
		{name: "other OUI", tlvs: []TLV{{Type: 127, Hex: "00120f030064"}}},
		{name: "short", tlvs: []TLV{{Type: 127, Hex: "0080c20300"}}},
		{name: "VLAN 0", tlvs: []TLV{{Type: 127, Hex: "0080c2030000"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LLDPVLANs(tt.tlvs); !slices.Equal(got, tt.want) {
				t.Errorf("LLDPVLANs = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWantedVLANs(t *testing.T) {
	vlanTLV := func(hexID string) TLV { return TLV{Type: 127, Hex: "0080c203" + hexID + "00"} }
	ifaces := []Interface{
		{Name: "eth0", MACAddress: "52:54:00:12:34:56", LLDP: []TLV{vlanTLV("0064"), vlanTLV("00c8")}},
		{Name: "eth1", MACAddress: "52:54:00:12:34:57", LLDP: []TLV{vlanTLV("0064")}},
		{Name: "eth2", MACAddress: "52:54:00:12:34:58"},
		{Name: "eth0.300", MACAddress: "52:54:00:12:34:56"},
	}
	tests := []struct {
		name string
		spec []string
		lldp bool
		want []VLAN
	}{
		{name: "nothing"},
		{name: "one by name", spec: []string{"eth2.10"}, want: []VLAN{{"eth2", 10}}},
		{name: "by MAC, any case", spec: []string{"52:54:00:12:34:58.10"}, want: []VLAN{{"eth2", 10}}},
		{name: "a list, spaces and duplicates", spec: []string{" eth2.10", "eth1.20", "eth2.10", ""},
			want: []VLAN{{"eth2", 10}, {"eth1", 20}}},
		{name: "existing VLAN left out", spec: []string{"eth0.300"}},
		{name: "unknown interface", spec: []string{"eth9.10"}},
		{name: "bad ids", spec: []string{"eth2.x", "eth2.0", "eth2.4095"}},
		{name: "all from LLDP", spec: []string{"all"}, lldp: true,
			want: []VLAN{{"eth0", 100}, {"eth0", 200}, {"eth1", 100}}},
		{name: "all without collect_lldp", spec: []string{"all"}},
		{name: "one interface from LLDP", spec: []string{"eth1"}, lldp: true, want: []VLAN{{"eth1", 100}}},
		{name: "interface without LLDP", spec: []string{"eth2"}, lldp: true},
		{name: "explicit and LLDP", spec: []string{"eth1.100", "all"}, lldp: true,
			want: []VLAN{{"eth1", 100}, {"eth0", 100}, {"eth0", 200}}},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WantedVLANs(log, tt.spec, ifaces, tt.lldp); !slices.Equal(got, tt.want) {
				t.Errorf("WantedVLANs = %v, want %v", got, tt.want)
			}
		})
	}
}
