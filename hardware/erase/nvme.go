package erase

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/goipa/goipa/internal/runner"
)

// Identify Controller bits nvme-cli reports in id-ctrl's JSON.
const (
	oacsFormat     = 1 << 1 // OACS: Format NVM supported
	fnaCryptoErase = 1 << 2 // FNA: cryptographic erase supported by Format NVM
)

func isNVMe(dev Device) bool {
	path := dev.Path
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	return dev.Tran == "nvme" || strings.HasPrefix(filepath.Base(path), "nvme")
}

// nvmeErase is IPA's _nvme_erase: nvme id-ctrl decides between a
// cryptographic erase (format -s 2) and a user-data erase (-s 1); a drive
// without Format NVM, or a failing command, is an ErrSecureErase.
func nvmeErase(ctx context.Context, o *Options, path string, begin func(Method)) (Method, error) {
	r := o.runner()
	out, err := r.Run(ctx, runner.Command("nvme", "id-ctrl", path, "-o", "json"))
	if err != nil {
		return "", fmt.Errorf("%s: %w: fetching NVMe capabilities: %w", path, ErrSecureErase, err)
	}
	var id struct {
		OACS *json.Number `json:"oacs"`
		FNA  *json.Number `json:"fna"`
	}
	if err := json.Unmarshal(out, &id); err != nil || id.OACS == nil || id.FNA == nil {
		return "", fmt.Errorf("%s: %w: nvme id-ctrl gave no oacs/fna (%v)", path, ErrSecureErase, err)
	}
	oacs, err1 := id.OACS.Int64()
	fna, err2 := id.FNA.Int64()
	if err1 != nil || err2 != nil {
		return "", fmt.Errorf("%s: %w: nvme id-ctrl oacs=%s fna=%s", path, ErrSecureErase, id.OACS, id.FNA)
	}
	if oacs&oacsFormat == 0 {
		return "", fmt.Errorf("%s: %w: the controller does not support Format NVM (oacs=%#x)", path, ErrSecureErase, oacs)
	}
	ses, m := 1, MethodNVMeUserData
	if fna&fnaCryptoErase != 0 {
		ses, m = 2, MethodNVMeCrypto
	}
	o.logger().Info("NVMe format", "device", path, "ses", ses)
	begin(m)
	if _, err := r.Run(ctx, runner.Command("nvme", "format", path, "-s", strconv.Itoa(ses), "-f")); err != nil {
		return "", fmt.Errorf("%s: %w: %w", path, ErrSecureErase, err)
	}
	return m, nil
}
