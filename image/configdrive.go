package image

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"

	"github.com/goipa/goipa/image/download"
)

// maxConfigDrive is Ironic's limit on the config drive partition.
const maxConfigDrive = 64 << 20

// fetchConfigDrive turns Ironic's configdrive value into ISO bytes: an
// http(s) URL is downloaded; otherwise it is base64 of a gzipped ISO, and,
// as in IPA, text that is not base64 is taken as the image itself.
func (d *Deployer) fetchConfigDrive(ctx context.Context, value string, opts download.Options) ([]byte, error) {
	var data []byte
	if strings.HasPrefix(value, "http://") || strings.HasPrefix(value, "https://") {
		opts.URLs = []string{value}
		s, err := download.Open(ctx, opts)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		data, err = io.ReadAll(io.LimitReader(s, maxConfigDrive+1))
		if err != nil {
			return nil, err
		}
	} else if b, err := base64.StdEncoding.DecodeString(value); err == nil {
		data = b
	} else {
		data = []byte(value)
	}
	if Sniff(data) == GZIP {
		z, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("gunzip: %w", err)
		}
		data, err = io.ReadAll(io.LimitReader(z, maxConfigDrive+1))
		if err != nil {
			return nil, fmt.Errorf("gunzip: %w", err)
		}
	}
	if len(data) > maxConfigDrive {
		return nil, fmt.Errorf("config drive is larger than %d MiB", maxConfigDrive>>20)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("config drive is empty")
	}
	return data, nil
}
