package erase

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/goipa/goipa/hardware/nvme"
)

func isNVMe(dev Device) bool {
	path := dev.Path
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	return dev.Tran == "nvme" || strings.HasPrefix(filepath.Base(path), "nvme")
}

// nvmeErase is IPA's _nvme_erase in Go: Identify Controller decides
// between a cryptographic erase (Format NVM with SES 2, when FNA says the
// controller can) and a user-data erase (SES 1); a drive without Format
// NVM, or a failing command, is an ErrSecureErase. dev is the namespace's
// block device, held open by the caller.
func nvmeErase(o *Options, dev nvme.Device, path string, begin func(Method)) (Method, error) {
	c, err := nvme.IdentifyController(dev)
	if err != nil {
		return "", fmt.Errorf("%s: %w: fetching NVMe capabilities: %w", path, ErrSecureErase, err)
	}
	if !c.FormatNVM {
		return nvmeSanitize(o, dev, path, c, begin)
	}
	ses, m := nvme.UserDataErase, MethodNVMeUserData
	if c.CryptoErase {
		ses, m = nvme.CryptographicErase, MethodNVMeCrypto
	}
	o.logger().Info("NVMe format", "device", path, "model", c.Model, "ses", ses, "all_namespaces", c.FormatAllNamespaces)
	begin(m)
	if err := nvme.Format(dev, ses); err != nil {
		return "", fmt.Errorf("%s: %w: %w", path, ErrSecureErase, err)
	}
	return m, nil
}

// sanitizeInterval is how often the Sanitize Status log is read.
const sanitizeInterval = 2 * time.Second

// nvmeSanitize erases a controller that has no Format NVM but can sanitize
// (SANICAP): a cryptographic erase if it can, else a block erase. A
// sanitize covers the whole NVM subsystem, every namespace.
func nvmeSanitize(o *Options, dev nvme.Device, path string, c *nvme.Controller, begin func(Method)) (Method, error) {
	action, m := nvme.SanitizeCryptoErase, MethodNVMeSanitizeCrypto
	switch {
	case c.SanitizeCryptoErase:
	case c.SanitizeBlockErase:
		action, m = nvme.SanitizeBlockErase, MethodNVMeSanitizeBlock
	default:
		return "", fmt.Errorf("%s: %w: the controller supports neither Format NVM nor Sanitize", path, ErrSecureErase)
	}
	o.logger().Info("NVMe sanitize", "device", path, "model", c.Model, "action", action)
	begin(m)
	if err := nvme.Sanitize(dev, action, sanitizeInterval, nil); err != nil {
		return "", fmt.Errorf("%s: %w: %w", path, ErrSecureErase, err)
	}
	return m, nil
}
