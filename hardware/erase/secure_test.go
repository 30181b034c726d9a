package erase

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/goipa/goipa/internal/runner"
	"github.com/goipa/goipa/internal/runner/runnertest"
)

func TestNVMeErase(t *testing.T) {
	t.Parallel()
	const dev = "/dev/nvme0n1"
	idCtrl := "nvme id-ctrl " + dev + " -o json"
	exitErr := &runner.ExitError{Cmd: runner.Command("nvme"), ExitCode: 1, Stderr: "NVMe status: Invalid Format"}
	tests := []struct {
		name      string
		responses map[string]runnertest.Response
		method    Method
		format    string // the format argv expected, "" for none
		errText   string
	}{
		{"crypto erase", map[string]runnertest.Response{
			idCtrl: {Stdout: testdata(t, "nvme-id-ctrl-crypto.json")}, "nvme format*": {}},
			MethodNVMeCrypto, "nvme format /dev/nvme0n1 -s 2 -f", ""},
		{"user-data erase", map[string]runnertest.Response{
			idCtrl: {Stdout: testdata(t, "nvme-id-ctrl-userdata.json")}, "nvme format*": {}},
			MethodNVMeUserData, "nvme format /dev/nvme0n1 -s 1 -f", ""},
		{"no Format NVM", map[string]runnertest.Response{
			idCtrl: {Stdout: testdata(t, "nvme-id-ctrl-noformat.json")}},
			"", "", "does not support Format NVM"},
		{"format fails", map[string]runnertest.Response{
			idCtrl: {Stdout: testdata(t, "nvme-id-ctrl-crypto.json")}, "nvme format*": {Err: exitErr}},
			"", "nvme format /dev/nvme0n1 -s 2 -f", "Invalid Format"},
		{"id-ctrl fails", map[string]runnertest.Response{
			idCtrl: {Err: fmt.Errorf("nvme: %w", exec.ErrNotFound)}},
			"", "", "fetching NVMe capabilities"},
		{"id-ctrl prints garbage", map[string]runnertest.Response{
			idCtrl: {Stdout: "NVMe status: INVALID_NS"}},
			"", "", "no oacs/fna"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &runnertest.Fake{Responses: tt.responses}
			var begun []Method
			o := Options{Runner: f, Logger: quiet}
			m, err := nvmeErase(context.Background(), &o, dev, func(m Method) { begun = append(begun, m) })
			if tt.errText == "" {
				if err != nil || m != tt.method {
					t.Fatalf("nvmeErase = %q, %v; want %q", m, err, tt.method)
				}
				if !slices.Equal(begun, []Method{tt.method}) {
					t.Errorf("progress began with %v, want %v", begun, tt.method)
				}
			} else if !errors.Is(err, ErrSecureErase) || !strings.Contains(err.Error(), tt.errText) || !strings.Contains(err.Error(), dev) {
				t.Fatalf("nvmeErase = %q, %v; want ErrSecureErase with %q", m, err, tt.errText)
			}
			want := []string{idCtrl}
			if tt.format != "" {
				want = append(want, tt.format)
			}
			if got := f.Argvs(); !slices.Equal(got, want) {
				t.Errorf("ran %q, want %q", got, want)
			}
		})
	}
}

func TestATAErase(t *testing.T) {
	t.Parallel()
	const dev = "/dev/sda"
	const (
		info     = "hdparm -I /dev/sda"
		smartctl = "smartctl -d ata /dev/sda -g security"
		setPass  = "hdparm --user-master u --security-set-pass NULL /dev/sda"
		enhanced = "hdparm --user-master u --security-erase-enhanced NULL /dev/sda"
		normal   = "hdparm --user-master u --security-erase NULL /dev/sda"
		unlockN  = "hdparm --user-master u --security-unlock NULL /dev/sda"
		unlockE  = "hdparm --user-master u --security-unlock  /dev/sda"
	)
	// Security states as hdparm prints them.
	ready := hdparmI(t, "\t\tsupported", "\tnot\tenabled", "\tnot\tlocked", "\tnot\tfrozen", "\tnot\texpired: security count", "\t\tsupported: enhanced erase")
	noEnhanced := hdparmI(t, "\t\tsupported", "\tnot\tenabled", "\tnot\tlocked", "\tnot\tfrozen", "\tnot\texpired: security count", "\tnot\tsupported: enhanced erase")
	passwordSet := hdparmI(t, "\t\tsupported", "\t\tenabled", "\tnot\tlocked", "\tnot\tfrozen", "\tnot\texpired: security count", "\t\tsupported: enhanced erase")
	locked := hdparmI(t, "\t\tsupported", "\t\tenabled", "\t\tlocked", "\tnot\tfrozen", "\tnot\texpired: security count", "\t\tsupported: enhanced erase")
	frozen := hdparmI(t, "\t\tsupported", "\tnot\tenabled", "\tnot\tlocked", "\t\tfrozen", "\tnot\texpired: security count", "\t\tsupported: enhanced erase")
	unsupported := hdparmI(t, "\tnot\tsupported", "\tnot\tenabled", "\tnot\tlocked", "\tnot\tfrozen")
	failed := &runner.ExitError{Cmd: runner.Command("hdparm"), ExitCode: 5, Stderr: "SECURITY_ERASE: Input/output error"}
	resp := func(s string) runnertest.Response { return runnertest.Response{Stdout: s} }
	ok := runnertest.Response{}

	tests := []struct {
		name      string
		responses map[string]runnertest.Response
		then      map[string]map[string]runnertest.Response
		method    Method
		supported bool
		argv      []string
		errText   string
	}{
		{"enhanced erase", map[string]runnertest.Response{info: resp(ready), smartctl: ok, setPass: ok, enhanced: ok},
			map[string]map[string]runnertest.Response{setPass: {info: resp(passwordSet)}, enhanced: {info: resp(ready)}},
			MethodATAEnhanced, true, []string{info, smartctl, setPass, enhanced, info}, ""},
		{"normal erase when enhanced is not supported", map[string]runnertest.Response{info: resp(noEnhanced), smartctl: ok, setPass: ok, normal: ok},
			nil, MethodATA, true, []string{info, smartctl, setPass, normal, info}, ""},
		{"password left by a failed run is unlocked first", map[string]runnertest.Response{info: resp(locked), smartctl: ok, unlockN: ok, enhanced: ok},
			map[string]map[string]runnertest.Response{unlockN: {info: resp(passwordSet)}, enhanced: {info: resp(ready)}},
			MethodATAEnhanced, true, []string{info, smartctl, unlockN, info, enhanced, info}, ""},
		{"unknown password", map[string]runnertest.Response{info: resp(locked), smartctl: ok, unlockN: {Err: failed}, unlockE: {Err: failed}},
			nil, "", true, []string{info, smartctl, unlockN, info, unlockE, info}, "locked with an unknown security password"},
		{"frozen", map[string]runnertest.Response{info: resp(frozen), smartctl: ok},
			nil, "", true, []string{info, smartctl}, "frozen"},
		{"erase fails and the locked drive is unlocked again", map[string]runnertest.Response{info: resp(ready), smartctl: ok, setPass: ok, enhanced: {Err: failed}, unlockN: ok},
			map[string]map[string]runnertest.Response{setPass: {info: resp(passwordSet)}, enhanced: {info: resp(locked)}, unlockN: {info: resp(passwordSet)}},
			"", true, []string{info, smartctl, setPass, enhanced, info, unlockN, info}, "Input/output error"},
		{"still enabled after the erase", map[string]runnertest.Response{info: resp(ready), smartctl: ok, setPass: ok, enhanced: ok},
			map[string]map[string]runnertest.Response{setPass: {info: resp(passwordSet)}},
			"", true, []string{info, smartctl, setPass, enhanced, info}, "still enabled"},
		{"no ATA security", map[string]runnertest.Response{info: resp(unsupported)},
			nil, "", false, []string{info}, ""},
		{"SAS disk without a Security section", map[string]runnertest.Response{info: resp(testdata(t, "hdparm-I-sas-no-security.txt"))},
			nil, "", false, []string{info}, ""},
		{"hdparm fails", map[string]runnertest.Response{info: {Err: failed}},
			nil, "", false, []string{info}, ""},
		{"smartctl cannot pass ATA commands through", map[string]runnertest.Response{info: resp(ready), smartctl: {Err: &runner.ExitError{ExitCode: 2}}},
			nil, "", false, []string{info, smartctl}, ""},
		{"smartctl says unavailable", map[string]runnertest.Response{info: resp(ready), smartctl: resp("ATA Security is:  Unavailable\n")},
			nil, "", false, []string{info, smartctl}, ""},
		{"no smartctl installed", map[string]runnertest.Response{info: resp(noEnhanced), smartctl: {Err: fmt.Errorf("smartctl: %w", exec.ErrNotFound)}, setPass: ok, normal: ok},
			nil, MethodATA, true, []string{info, smartctl, setPass, normal, info}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &stepRunner{Fake: &runnertest.Fake{Responses: tt.responses}, then: tt.then}
			o := Options{Runner: f, Logger: quiet}
			var begun []Method
			m, supported, err := ataErase(context.Background(), &o, dev, func(m Method) { begun = append(begun, m) })
			switch {
			case supported != tt.supported:
				t.Errorf("supported = %v, want %v (err %v)", supported, tt.supported, err)
			case tt.errText != "":
				if !errors.Is(err, ErrSecureErase) || !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("ataErase = %v, want ErrSecureErase with %q", err, tt.errText)
				}
			case err != nil || m != tt.method:
				t.Errorf("ataErase = %q, %v; want %q", m, err, tt.method)
			}
			if tt.method != "" && !slices.Equal(begun, []Method{tt.method}) {
				t.Errorf("progress began with %v, want %v", begun, tt.method)
			}
			if got := f.Argvs(); !slices.Equal(got, tt.argv) {
				t.Errorf("ran\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.argv, "\n"))
			}
		})
	}
}

func TestParseATASecurity(t *testing.T) {
	t.Parallel()
	got := parseATASecurity(hdparmI(t, "\t\tsupported", "\tnot\tenabled", "\tnot\tlocked", "\tnot\tfrozen", "\tnot\texpired: security count", "\tnot\tsupported: enhanced erase"))
	want := ataSecurity{"Master password revision code = 65534", "supported", "not enabled", "not locked", "not frozen",
		"not expired: security count", "not supported: enhanced erase", "2min for SECURITY ERASE UNIT. 2min for ENHANCED SECURITY ERASE UNIT."}
	if !slices.Equal(got, want) {
		t.Errorf("parseATASecurity =\n%q\nwant\n%q", got, want)
	}
}
