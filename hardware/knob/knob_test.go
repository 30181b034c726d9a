package knob

import "testing"

// TestBoolAndInt: the values oslo accepts from JSON and from the baremetal
// CLI (strings), unset and empty as the default, and clear refusals.
func TestBoolAndInt(t *testing.T) {
	for _, tc := range []struct {
		v    any
		def  bool
		want bool
		ok   bool
	}{
		{nil, true, true, true}, {"", true, true, true}, {"  ", false, false, true},
		{true, false, true, true}, {false, true, false, true}, {"True", false, true, true}, {"off", true, false, true},
		{1.0, false, true, true}, {0.0, true, false, true}, {"1", false, true, true}, {"yes", false, true, true},
		{"maybe", false, false, false}, {2.0, false, false, false}, {0.5, false, false, false}, {[]any{}, false, false, false},
	} {
		got, err := Bool(map[string]any{"k": tc.v}, "k", tc.def)
		if (err == nil) != tc.ok || err == nil && got != tc.want {
			t.Errorf("Bool(%#v, def %v) = %v, %v", tc.v, tc.def, got, err)
		}
	}
	for _, tc := range []struct {
		v    any
		want int
		ok   bool
	}{
		{nil, 7, true}, {"", 7, true}, {3.0, 3, true}, {"12", 12, true}, {" 5 ", 5, true}, {int64(9), 9, true},
		{3.5, 0, false}, {"3s", 0, false}, {true, 0, false}, {"100", 0, false}, {-1.0, 0, false}, {1e300, 0, false},
	} {
		got, err := Int(map[string]any{"k": tc.v}, "k", 7, 0, 99)
		if (err == nil) != tc.ok || err == nil && got != tc.want {
			t.Errorf("Int(%#v) = %v, %v", tc.v, got, err)
		}
	}
}
