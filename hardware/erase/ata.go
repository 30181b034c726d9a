package erase

import (
	"fmt"
	"time"

	"github.com/goipa/goipa/hardware/ata"
)

// ataPassword is the user password goipa sets for the erase: empty (32 zero
// bytes), what hdparm's "NULL" means since 9.51. Older hdparm (and so IPA
// on old ramdisks) took "NULL" literally; unlocking tries both.
var ataPassword = make([]byte, 32)

var ataPasswords = [][]byte{ataPassword, []byte("NULL")}

// ataDefaultTimeout bounds an erase whose drive gives no estimate.
const ataDefaultTimeout = 12 * time.Hour

// ataErase is IPA's _ata_erase in Go, through ATA PASS-THROUGH: ok is false
// when the drive does not offer ATA security, or the path to it cannot pass
// ATA commands (SAS, USB bridges, virtio: IDENTIFY fails), and erasing
// falls through to overwriting; once the drive does, any failure is an
// ErrSecureErase.
func ataErase(o *Options, dev ata.Device, path string, begin func(Method)) (m Method, ok bool, err error) {
	log := o.logger()
	id, err := ata.Identify(dev)
	if err != nil {
		log.Info("no ATA IDENTIFY through SCSI pass-through, no ATA secure erase", "device", path, "error", err)
		return "", false, nil
	}
	sec := id.Security
	if !sec.Supported {
		return "", false, nil
	}
	fail := func(format string, args ...any) (Method, bool, error) {
		return "", true, fmt.Errorf("%s: %w: %s", path, ErrSecureErase, fmt.Sprintf(format, args...))
	}
	switch {
	case sec.Frozen:
		return fail("the drive's security is frozen (a power cycle or suspend/resume may unfreeze it)")
	case sec.CountExpired:
		return fail("the drive's password attempt counter expired (a power cycle resets it)")
	}
	// A previous failed attempt may have left the drive locked; the
	// password that unlocks it is the one to erase with.
	password := ataPassword
	unlock := func() ata.Security {
		for _, pw := range ataPasswords {
			if err := ata.UnlockUser(dev, pw); err != nil {
				log.Info("ATA security unlock failed", "device", path, "error", err)
				continue
			}
			password = pw
			break
		}
		if id, err := ata.Identify(dev); err == nil {
			return id.Security
		}
		return sec
	}
	if sec.Locked {
		if sec = unlock(); sec.Locked {
			return fail("the drive is locked with an unknown security password")
		}
	}
	if !sec.Enabled {
		if err := ata.SetUserPassword(dev, password); err != nil {
			return fail("setting the security password: %v", err)
		}
	}
	m, estimate := MethodATA, sec.EraseTime
	if sec.EnhancedErase {
		m, estimate = MethodATAEnhanced, sec.EnhancedEraseTime
	}
	timeout := ataDefaultTimeout
	if estimate > 0 {
		timeout = 2*estimate + 10*time.Minute // the estimate is the drive's, not a bound
	}
	log.Info("ATA secure erase", "device", path, "model", id.Model, "enhanced", sec.EnhancedErase, "estimate", estimate)
	begin(m)
	if err := ata.EraseUnit(dev, password, sec.EnhancedErase, timeout); err != nil {
		unlock() // leave the drive writable for the overwrite fallback
		return fail("%v", err)
	}
	if id, err := ata.Identify(dev); err != nil || id.Security.Enabled {
		return fail("security is still enabled after the erase (%v)", err)
	}
	return m, true, nil
}
