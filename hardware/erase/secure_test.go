package erase

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/goipa/goipa/hardware/nvme"
	"github.com/goipa/goipa/internal/runner"
	"github.com/goipa/goipa/internal/runner/runnertest"
)

// nvmeDrive fakes an NVMe controller: Identify pages built at the Base
// Specification's offsets, and a record of the Format NVM commands sent.
type nvmeDrive struct {
	oacs, fna byte
	formatErr error
	formats   []uint32 // Format NVM's CDW10, in order
}

func (d *nvmeDrive) NamespaceID() (uint32, error) { return 1, nil }

func (d *nvmeDrive) Admin(c *nvme.AdminCmd, data []byte) error {
	switch {
	case c.Opcode == nvme.OpIdentify && c.Cdw10 == 1: // controller
		data[256], data[524] = d.oacs, d.fna // OACS, FNA
	case c.Opcode == nvme.OpIdentify && c.Cdw10 == 0: // namespace
		data[26] = 0x01 // FLBAS: LBA format 1 in use
	case c.Opcode == nvme.OpFormatNVM:
		d.formats = append(d.formats, c.Cdw10)
		return d.formatErr
	default:
		return fmt.Errorf("unexpected opcode %#x", c.Opcode)
	}
	return nil
}

func TestNVMeErase(t *testing.T) {
	t.Parallel()
	const dev = "/dev/nvme0n1"
	tests := []struct {
		name    string
		drive   nvmeDrive
		method  Method
		formats []uint32 // CDW10: LBA format 1 kept, SES in bits 11:9
		errText string
	}{
		{"crypto erase", nvmeDrive{oacs: 0x02, fna: 0x04}, MethodNVMeCrypto, []uint32{0x0401}, ""},
		{"user-data erase", nvmeDrive{oacs: 0x02, fna: 0x00}, MethodNVMeUserData, []uint32{0x0201}, ""},
		{"no Format NVM", nvmeDrive{oacs: 0x01, fna: 0x04}, "", nil, "does not support Format NVM"},
		{"format fails", nvmeDrive{oacs: 0x02, fna: 0x04, formatErr: fmt.Errorf("%w: status 0x10a (invalid format)", nvme.ErrStatus)},
			"", []uint32{0x0401}, "invalid format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			drive := tt.drive
			var begun []Method
			o := Options{Logger: quiet}
			m, err := nvmeErase(&o, &drive, dev, func(m Method) { begun = append(begun, m) })
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
			if !slices.Equal(drive.formats, tt.formats) {
				t.Errorf("Format NVM CDW10 %#x, want %#x", drive.formats, tt.formats)
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
