package agent

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/goipa/goipa/hardware"
)

func TestLLDPCache(t *testing.T) {
	tlv := []hardware.TLV{{Type: 1, Hex: "04525400123456"}}
	var listened [][]string
	c := &lldpCache{timeout: time.Second, listen: func(_ context.Context, ifaces []string, timeout time.Duration) map[string][]hardware.TLV {
		if timeout != time.Second {
			t.Errorf("timeout %v", timeout)
		}
		listened = append(listened, ifaces)
		return map[string][]hardware.TLV{"eth0": tlv}
	}}
	steps := []struct {
		ask      []string
		want     map[string][]hardware.TLV
		listened []string // nil: no listen
	}{
		{ask: []string{"eth0", "eth1"}, want: map[string][]hardware.TLV{"eth0": tlv}, listened: []string{"eth0", "eth1"}},
		{ask: []string{"eth1", "eth0"}, want: map[string][]hardware.TLV{"eth0": tlv}},
		{ask: []string{"eth0", "eth0.100", "eth2"}, want: map[string][]hardware.TLV{"eth0": tlv}, listened: []string{"eth2"}},
	}
	for k, s := range steps {
		listened = nil
		if got := c.get(context.Background(), s.ask); !reflect.DeepEqual(got, s.want) {
			t.Errorf("step %d: got %v, want %v", k, got, s.want)
		}
		var flat []string
		for _, l := range listened {
			flat = append(flat, l...)
		}
		if !slices.Equal(flat, s.listened) {
			t.Errorf("step %d: listened on %v, want %v", k, flat, s.listened)
		}
	}
}
