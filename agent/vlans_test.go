package agent

import "testing"

func TestFromLLDP(t *testing.T) {
	tests := []struct {
		spec []string
		want bool
	}{
		{nil, false},
		{[]string{"eth0.100", " eth1.200 "}, false},
		{[]string{"all"}, true},
		{[]string{"eth0.100", "eth1"}, true},
		{[]string{" ", ""}, false},
	}
	for _, tt := range tests {
		if got := fromLLDP(tt.spec); got != tt.want {
			t.Errorf("fromLLDP(%q) = %v, want %v", tt.spec, got, tt.want)
		}
	}
}
