package inspect

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/goipa/goipa/hardware"
)

func TestDHCPWait(t *testing.T) {
	ip := "10.0.2.15"
	const pxe, other = "52:54:00:12:34:56", "52:54:00:12:34:57"
	// Each look returns the next state; the last one stays.
	addressed := func(v4 ...bool) []hardware.Interface {
		ifs := []hardware.Interface{{Name: "eth0", MACAddress: pxe}, {Name: "eth1", MACAddress: other}, {Name: "eth1.100", MACAddress: other}}
		for k, ok := range v4 {
			if ok {
				ifs[k].IPv4Address = &ip
			}
		}
		return ifs
	}
	tests := []struct {
		name    string
		w       DHCPWait
		looks   [][]hardware.Interface
		err     error
		want    []string
		atLeast int // looks taken
	}{
		{name: "no timeout: no wait", w: DHCPWait{All: true}, looks: [][]hardware.Interface{addressed()}},
		{name: "no BOOTIF and not all: no wait", w: DHCPWait{Timeout: time.Second}, looks: [][]hardware.Interface{addressed()}},
		{name: "PXE NIC only", w: DHCPWait{Timeout: time.Second, BootMAC: pxe},
			looks: [][]hardware.Interface{addressed(), addressed(true)}, atLeast: 2},
		{name: "all, VLAN last", w: DHCPWait{Timeout: time.Second, All: true},
			looks: [][]hardware.Interface{addressed(true), addressed(true, true), addressed(true, true, true)}, atLeast: 3},
		{name: "all, one never", w: DHCPWait{Timeout: 50 * time.Millisecond, All: true},
			looks: [][]hardware.Interface{addressed(true, false, true)}, want: []string{"eth1"}},
		{name: "BOOTIF in other case", w: DHCPWait{Timeout: 50 * time.Millisecond, BootMAC: "52:54:00:12:34:57"},
			looks: [][]hardware.Interface{addressed(true)}, want: []string{"eth1", "eth1.100"}},
		{name: "unreadable", w: DHCPWait{Timeout: 50 * time.Millisecond, All: true}, err: errors.New("no sysfs")},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.w.Interval = 5 * time.Millisecond
			n := 0
			list := func() ([]hardware.Interface, error) {
				n++
				if tt.err != nil {
					return nil, tt.err
				}
				return tt.looks[min(n, len(tt.looks))-1], nil
			}
			if got := tt.w.wait(context.Background(), log, list); !slices.Equal(got, tt.want) {
				t.Errorf("missing = %v, want %v", got, tt.want)
			}
			if n < tt.atLeast {
				t.Errorf("%d looks, want at least %d", n, tt.atLeast)
			}
		})
	}
}
