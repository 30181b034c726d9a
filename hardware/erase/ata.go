package erase

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"

	"github.com/goipa/goipa/internal/runner"
)

// ataSecurity is the "Security:" section of hdparm -I, one normalised line
// per state: "supported", "not enabled", "not locked", "not frozen",
// "supported: enhanced erase", …
type ataSecurity []string

func (s ataSecurity) has(line string) bool { return slices.Contains(s, line) }

func parseATASecurity(out string) ataSecurity {
	var s ataSecurity
	in := false
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, "\r\n")
		if !in {
			in = strings.TrimSpace(line) == "Security:"
			continue
		}
		if !strings.HasPrefix(line, "\t") {
			break
		}
		s = append(s, strings.Join(strings.Fields(line), " "))
	}
	return s
}

func ataSecurityOf(ctx context.Context, r runner.Runner, path string) (ataSecurity, error) {
	out, err := r.Run(ctx, runner.Command("hdparm", "-I", path))
	if err != nil {
		return nil, err
	}
	return parseATASecurity(string(out)), nil
}

// smartctlAllowsATA is IPA's _smartctl_security_check: smartctl must reach
// the drive with ATA commands (a SAS/USB bridge that cannot pass them
// through makes hdparm's erase unsafe). A missing smartctl allows.
func smartctlAllowsATA(ctx context.Context, o *Options, path string) bool {
	out, err := o.runner().Run(ctx, runner.Command("smartctl", "-d", "ata", path, "-g", "security"))
	var ee *runner.ExitError
	switch {
	case errors.Is(err, exec.ErrNotFound):
		o.logger().Warn("smartctl not available, not checking ATA pass-through", "device", path)
		return true
	case errors.As(err, &ee) && ee.ExitCode == 127, err == nil:
		if strings.Contains(string(out), "Unavailable") {
			o.logger().Info("smartctl reports ATA security unavailable", "device", path)
			return false
		}
		return true
	default:
		o.logger().Warn("not using ATA secure erase: smartctl cannot query the drive with ATA commands", "device", path, "error", err)
		return false
	}
}

// ataErase is IPA's _ata_erase through hdparm. ok is false when the drive
// does not offer ATA security (erase falls through to overwriting); once
// the drive does, any failure is an ErrSecureErase.
func ataErase(ctx context.Context, o *Options, path string, begin func(Method)) (m Method, ok bool, err error) {
	r, log := o.runner(), o.logger()
	sec, err := ataSecurityOf(ctx, r, path)
	if err != nil {
		log.Info("hdparm -I failed, no ATA secure erase", "device", path, "error", err)
		return "", false, nil
	}
	if !sec.has("supported") || !smartctlAllowsATA(ctx, o, path) {
		return "", false, nil
	}
	fail := func(format string, args ...any) (Method, bool, error) {
		return "", true, fmt.Errorf("%s: %w: %s", path, ErrSecureErase, fmt.Sprintf(format, args...))
	}
	if !sec.has("not frozen") {
		return fail("the drive's security is frozen (a power cycle or suspend/resume may unfreeze it)")
	}
	// A previous failed attempt may have left the drive locked with an
	// empty password; hdparm before 9.51 took "NULL" literally, so try both.
	unlock := func(sec ataSecurity) ataSecurity {
		if sec == nil {
			sec, _ = ataSecurityOf(ctx, r, path)
		}
		for _, pw := range []string{"NULL", ""} {
			if sec.has("not locked") {
				break
			}
			if _, err := r.Run(ctx, runner.Command("hdparm", "--user-master", "u", "--security-unlock", pw, path)); err != nil {
				log.Info("ATA security unlock failed", "device", path, "password", pw, "error", err)
			}
			if s, err := ataSecurityOf(ctx, r, path); err == nil {
				sec = s
			}
		}
		return sec
	}
	if sec = unlock(sec); !sec.has("not locked") {
		return fail("the drive is locked with an unknown security password")
	}
	if sec.has("not enabled") {
		if _, err := r.Run(ctx, runner.Command("hdparm", "--user-master", "u", "--security-set-pass", "NULL", path)); err != nil {
			return fail("setting the security password: %v", err)
		}
	}
	opt, m := "--security-erase-enhanced", MethodATAEnhanced
	if sec.has("not supported: enhanced erase") {
		opt, m = "--security-erase", MethodATA
	}
	log.Info("ATA secure erase", "device", path, "option", opt)
	begin(m)
	if _, err := r.Run(ctx, runner.Command("hdparm", "--user-master", "u", opt, "NULL", path)); err != nil {
		unlock(nil) // leave the drive writable for the overwrite fallback
		return fail("%s: %v", opt, err)
	}
	if sec, err = ataSecurityOf(ctx, r, path); err != nil || !sec.has("not enabled") {
		return fail("security is still enabled after the erase (%v)", err)
	}
	return m, true, nil
}
