// Package image writes an operator's image to the node's disk, as the
// write_image deploy step and standby.prepare_image: download (resumable),
// verify (in the same pass as the write), detect the format, decompress or
// convert qcow2 on the fly, write with zero runs skipped, then fix the GPT,
// record partition UUIDs and add the config drive. Contract §3 and §7.
package image

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Info is Ironic's image_info (ironic/drivers/modules/agent.py).
type Info struct {
	ID                        string            `json:"id"`
	URLs                      []string          `json:"urls"`
	DiskFormat                string            `json:"disk_format"`
	ContainerFormat           string            `json:"container_format"`
	Checksum                  string            `json:"checksum"`
	OSHashAlgo                string            `json:"os_hash_algo"`
	OSHashValue               string            `json:"os_hash_value"`
	StreamRawImages           bool              `json:"stream_raw_images"`
	ImageRequestAuthorization string            `json:"image_request_authorization"`
	ImageServerAuthStrategy   string            `json:"image_server_auth_strategy"`
	ImageServerUser           string            `json:"image_server_user"`
	ImageServerPassword       string            `json:"image_server_password"`
	Proxies                   map[string]string `json:"proxies"`
	NoProxy                   string            `json:"no_proxy"`
	NodeUUID                  string            `json:"node_uuid"`
	ImageType                 string            `json:"image_type"`

	// Partition images only.
	RootMB            int    `json:"root_mb"`
	SwapMB            int    `json:"swap_mb"`
	EphemeralMB       int    `json:"ephemeral_mb"`
	EphemeralFormat   string `json:"ephemeral_format"`
	PreserveEphemeral bool   `json:"preserve_ephemeral"`
	DeployBootMode    string `json:"deploy_boot_mode"`
	BootOption        string `json:"boot_option"`
	DiskLabel         string `json:"disk_label"`
}

// ErrInvalidInfo marks an image_info the agent refuses before writing.
var ErrInvalidInfo = errors.New("invalid image_info")

var hexRE = regexp.MustCompile(`^[0-9a-fA-F]+$`)

// Validate mirrors IPA's _validate_image_info, with clearer messages.
func (i *Info) Validate(md5Enabled bool) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidInfo, fmt.Sprintf(format, a...))
	}
	if i.ID == "" {
		return bad("missing id")
	}
	if len(i.URLs) == 0 {
		return bad("urls must be a non-empty list")
	}
	for _, u := range i.URLs {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return bad("url %q is not http(s)", u)
		}
	}
	switch {
	case i.OSHashAlgo != "" || i.OSHashValue != "":
		if i.OSHashAlgo == "" || i.OSHashValue == "" {
			return bad("os_hash_algo and os_hash_value go together")
		}
		if !hexRE.MatchString(i.OSHashValue) {
			return bad("os_hash_value %q is not hexadecimal", i.OSHashValue)
		}
	case i.Checksum != "":
		c := i.Checksum
		if strings.HasPrefix(c, "http://") || strings.HasPrefix(c, "https://") {
			break
		}
		if !hexRE.MatchString(c) {
			return bad("checksum %q is neither a URL nor hexadecimal", c)
		}
		if len(c) == 32 && !md5Enabled {
			return bad("checksum is MD5, which is disabled (Ironic's agent_md5_checksum_enable)")
		}
	default:
		return bad("no checksum: give os_hash_algo and os_hash_value, or checksum")
	}
	switch i.ImageType {
	case "", "whole-disk", "partition":
	default:
		return bad("image_type %q is neither whole-disk nor partition", i.ImageType)
	}
	if i.ImageRequestAuthorization != "" {
		if _, err := base64.StdEncoding.DecodeString(i.ImageRequestAuthorization); err != nil {
			return bad("image_request_authorization is not base64: %v", err)
		}
	}
	return nil
}

// Authorization returns the Authorization header value Ironic passed
// base64-encoded, "" if none.
func (i *Info) Authorization() string {
	b, _ := base64.StdEncoding.DecodeString(i.ImageRequestAuthorization)
	return string(b)
}

// WholeDisk reports whether the image is a whole-disk image.
func (i *Info) WholeDisk() bool { return i.ImageType != "partition" }
