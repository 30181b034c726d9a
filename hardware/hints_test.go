package hardware

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// devices are IPA's MatchRootDeviceTestCase devices (60, 120 and 10 GiB).
func hintDevices() []BlockDevice {
	s := ptr[string]
	return []BlockDevice{
		{Name: "/dev/sda", Size: 64424509440, Model: s("ok model"), Serial: s("fakeserial"), WWN: s("wwn_1"),
			Vendor: s("Samsung"), HCTL: s("1:0:0:0"), ByPath: s("/dev/disk/by-path/pci-0000:00:1f.2-ata-1"), Tran: s("sata")},
		{Name: "/dev/sdb", Size: 128849018880, Model: s("big model"), Serial: s("veryfakeserial"), Rotational: true,
			WWN: s("wwn_2"), WWNWithExtension: s("wwn_2_ext"), Vendor: s("WinSys"), Tran: s("sas")},
		{Name: "/dev/sdc", Size: 10737418240, Model: s("small model"), Serial: s("veryveryfakeserial"), WWN: s("wwn_3"),
			Vendor: s("ATA"), Tran: s("nvme")},
	}
}

func TestMatchHints(t *testing.T) {
	tests := []struct {
		hints map[string]any
		want  []string // names of matching devices, in order
	}{
		// Ironic's documented examples.
		{map[string]any{"wwn": "0x4000cca77fc4dba1"}, nil},
		{map[string]any{"size": ">= 60", "rotational": false}, []string{"sda"}},
		{map[string]any{"vendor": "<or> samsung <or> winsys"}, []string{"sda", "sdb"}},
		{map[string]any{"size": "<range-in> ( 10 100 )"}, []string{"sda"}},
		{map[string]any{"size": "<range-in> [10 100)"}, []string{"sda", "sdc"}},
		{map[string]any{"size": "<range-in> ( 60 120 ]"}, []string{"sdb"}},
		// IPA's device_hints tests.
		{map[string]any{"size": ">= 70"}, []string{"sdb"}},
		{map[string]any{"rotational": false}, []string{"sda", "sdc"}},
		{map[string]any{"size": ">=100", "rotational": true}, []string{"sdb"}},
		{map[string]any{"size": ">= 50", "model": "s==big model", "serial": "s==veryfakeserial"}, []string{"sdb"}},
		{map[string]any{"size": "<= 20", "model": "<or> model 5 <or> foomodel <or> small model <or>", "serial": "s== veryveryfakeserial"}, []string{"sdc"}},
		{map[string]any{"rotational": false, "model": "<in> small"}, []string{"sdc"}},
		{map[string]any{"wwn_with_extension": "wwn_2_ext"}, []string{"sdb"}},
		{map[string]any{"size": "120", "model": "big model", "serial": "veryfakeserial"}, []string{"sdb"}},
		{map[string]any{"size": ">=50", "model": "s==foo"}, nil},
		{map[string]any{"size": ">= 10"}, []string{"sda", "sdb", "sdc"}},
		{map[string]any{"size": ">= 100500"}, nil},
		{map[string]any{"name": "s== /dev/sda"}, []string{"sda"}},
		{map[string]any{"serial": "s== fakeserial"}, []string{"sda"}},
		{map[string]any{"wwn": "s== wwn_1"}, []string{"sda"}},
		// Each operator.
		{map[string]any{"size": 60}, []string{"sda"}},
		{map[string]any{"size": 60.0}, []string{"sda"}},
		{map[string]any{"size": "= 60"}, []string{"sda", "sdb"}},
		{map[string]any{"size": "== 120"}, []string{"sdb"}},
		{map[string]any{"size": "!= 120"}, []string{"sda", "sdc"}},
		{map[string]any{"size": "> 60"}, []string{"sdb"}},
		{map[string]any{"size": "< 60"}, []string{"sdc"}},
		{map[string]any{"size": "<or> 10 <or> 120"}, []string{"sdb", "sdc"}},
		{map[string]any{"model": "s!= big model"}, []string{"sda", "sdc"}},
		{map[string]any{"model": "s< ok"}, []string{"sdb"}},
		{map[string]any{"model": "s<= ok%20model"}, []string{"sda", "sdb"}},
		{map[string]any{"model": "s> ok"}, []string{"sda", "sdc"}},
		{map[string]any{"model": "s>= small model"}, []string{"sdc"}},
		{map[string]any{"model": "<all-in> model small"}, []string{"sdc"}},
		{map[string]any{"model": "<all-in> model"}, []string{"sda", "sdb", "sdc"}},
		{map[string]any{"vendor": "SAMSUNG"}, []string{"sda"}},
		{map[string]any{"hctl": "1:0:0:0"}, []string{"sda"}},
		{map[string]any{"by_path": "/dev/disk/by-path/pci-0000:00:1f.2-ata-1"}, []string{"sda"}},
		{map[string]any{"tran": "<or> sas <or> nvme"}, []string{"sdb", "sdc"}},
		{map[string]any{"rotational": "yes"}, []string{"sdb"}},
		{map[string]any{"rotational": "0"}, []string{"sda", "sdc"}},
		// A name may leave out /dev/.
		{map[string]any{"name": "sdb"}, []string{"sdb"}},
		{map[string]any{"name": "s!= sdb"}, []string{"sda", "sdc"}},
		{map[string]any{"name": "<in> sd"}, []string{"sda", "sdb", "sdc"}},
		// A missing value reads as "none", as in IPA.
		{map[string]any{"hctl": "s!= 1:0:0:0"}, []string{"sdb", "sdc"}},
		{map[string]any{"wwn_vendor_extension": "0x1"}, nil},
	}
	for _, tc := range tests {
		h, err := ParseHints(tc.hints)
		if err != nil {
			t.Errorf("ParseHints(%v): %v", tc.hints, err)
			continue
		}
		var got []string
		for _, d := range MatchHints(hintDevices(), h) {
			got = append(got, strings.TrimPrefix(d.Name, "/dev/"))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("MatchHints(%v) = %v, want %v", tc.hints, got, tc.want)
		}
	}
}

func TestParseHintsNormalises(t *testing.T) {
	h, err := ParseHints(map[string]any{
		"model": "s== foo MODEL", "vendor": "<or> foo <or> foo bar <or> bar", "hctl": "1:0:0:0",
		"by_path": "/dev/disk/by-path/1:0:0:0", "size": 12345,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"model": "s== foo%20model", "vendor": "<or> foo foo%20bar bar", "hctl": "s== 1%3A0%3A0%3A0",
		"by_path": "s== /dev/disk/by-path/1%3A0%3A0%3A0", "size": "== 12345",
	}
	for _, hn := range h.hints {
		if got := hn.op + " " + strings.Join(hn.values, " "); got != want[hn.key] {
			t.Errorf("%s = %q, want %q", hn.key, got, want[hn.key])
		}
	}
}

func TestParseHintsRejects(t *testing.T) {
	for _, hints := range []map[string]any{
		{"non-existent": "foo"},
		{"size": "not-int"}, {"size": -123}, {"size": 0}, {"size": 1.5}, {"size": "<or> 123 <or> non-int <or> 789"},
		{"size": "s== 10"}, {"size": "<in> 10"}, {"size": "<range-in> 10 100"}, {"size": "<range-in> ( 100 10 )"},
		{"size": "<range-in> { 10 100 }"}, {"size": true},
		{"rotational": "not-bool"}, {"rotational": 2},
		{"wwn": 123}, {"model": 123}, {"serial": 123}, {"vendor": 123}, {"name": 123}, {"hctl": 123}, {"by_path": 123},
		{"wwn_with_extension": 123}, {"wwn_vendor_extension": 123}, {"tran": false},
		{"model": ""}, {"model": "   "}, {"model": "s=="},
	} {
		if _, err := ParseHints(hints); !errors.Is(err, ErrInvalidHints) {
			t.Errorf("ParseHints(%v) = %v, want ErrInvalidHints", hints, err)
		}
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"foo bar": "foo%20bar", "a/b:c": "a/b%3Ac", "x_y.z-~": "x_y.z-~", "é": "%C3%A9", "100%": "100%25",
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %q, want %q", in, got, want)
		}
	}
}
