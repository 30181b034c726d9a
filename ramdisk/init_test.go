package ramdisk

import "testing"

// The operator's kernel command line decides how chatty the console is;
// goipa lowers the level only when it said nothing.
func TestHasLoglevel(t *testing.T) {
	tests := []struct {
		cmdline string
		want    bool
	}{
		{"console=ttyS0 ipa-api-url=http://10.0.2.100:6385", false},
		{"console=ttyS0 quiet", true},
		{"loglevel=7 console=ttyS0", true},
		{"debug", true},
		{"ipa-debug=1 goipa.loglevel=3", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := hasLoglevel(tt.cmdline); got != tt.want {
			t.Errorf("hasLoglevel(%q) = %v, want %v", tt.cmdline, got, tt.want)
		}
	}
}
