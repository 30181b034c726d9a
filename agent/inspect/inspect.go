// Package inspect sends the node's inventory to Ironic (continue_inspection)
// or ironic-inspector (/v1/continue) at startup, as IPA's inspector.py does,
// and returns the node UUID the answer carries so lookup can use it.
package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/goipa/goipa/hardware"
)

// Manager names a hardware manager in the "configuration" data.
type Manager struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Options configure one inspection.
type Options struct {
	URL        string
	Collectors []string
	HTTP       *http.Client
	Log        *slog.Logger
	Root       hardware.Root
	BootIF     string // the raw BOOTIF value
	SkipBMC    bool
	// LLDP collects TLVs from the named interfaces (the lldp collector).
	LLDP func(ctx context.Context, ifaces []string) map[string][]hardware.TLV
	// InventoryLLDP also puts them in the inventory (ipa-collect-lldp).
	InventoryLLDP bool
	// Logs returns the base64 tar.gz of the agent's logs (the logs collector).
	Logs     func(ctx context.Context) (string, error)
	Managers []Manager
	// Retry shapes the waits between attempts; nil is IPA's: 5 attempts,
	// exponential from 5 s to 30 s.
	Retry backoff.BackOff
}

// ErrRejected means the inspection service refused the data (a 4xx other
// than 409): there is no point sending it again.
var ErrRejected = errors.New("inspection data rejected")

// URL returns the callback URL: ipa-inspection-callback-url, or, as IPA
// does when collectors were set explicitly, Ironic's continue_inspection
// endpoint under the first API URL. "" means no inspection.
func URL(callback, apiURLs []string, collectorsSet bool) string {
	for _, u := range callback {
		if u != "" && u != "mdns" {
			return u
		}
	}
	if collectorsSet {
		for _, u := range apiURLs {
			if u != "" && u != "mdns" {
				return strings.TrimRight(u, "/") + "/v1/continue_inspection"
			}
		}
	}
	return ""
}

// Collect gathers the data of every collector; failures are accumulated in
// the "error" field, as IPA does, rather than stopping the inspection.
func Collect(ctx context.Context, o Options) map[string]any {
	data := map[string]any{}
	var errs []string
	fail := func(c string, err error) { errs = append(errs, fmt.Sprintf("collector %s failed: %v", c, err)) }
	ifaceNames := func() []string {
		ifs, _ := hardware.Interfaces(o.Root, nil)
		var names []string
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return names
	}
	for _, c := range o.Collectors {
		switch c {
		case "default":
			var lldp map[string][]hardware.TLV
			if o.InventoryLLDP && o.LLDP != nil {
				lldp = o.LLDP(ctx, ifaceNames())
			}
			inv, err := hardware.Inventory(hardware.InventoryOptions{Root: o.Root, BootIf: o.BootIF, SkipBMC: o.SkipBMC, LLDP: lldp})
			if err != nil {
				fail(c, err)
				continue
			}
			data["inventory"] = inv
			if root, err := hardware.SelectRootDevice(inv.Disks, hardware.Hints{}, hardware.SelectOptions{}); err == nil {
				data["root_disk"] = root
			}
			data["boot_interface"] = o.BootIF
			data["configuration"] = map[string]any{"collectors": o.Collectors, "managers": o.Managers}
		case "logs":
			if o.Logs == nil {
				continue
			}
			l, err := o.Logs(ctx)
			if err != nil {
				fail(c, err)
				continue
			}
			data["logs"] = l
		case "lldp":
			if o.LLDP == nil {
				continue
			}
			data["lldp_raw"] = o.LLDP(ctx, ifaceNames())
		case "pci-devices":
			p, err := hardware.PCIDevices(o.Root)
			if err != nil {
				fail(c, err)
				continue
			}
			data["pci_devices"] = p
		default:
			fail(c, errors.New("unknown collector"))
		}
	}
	if len(errs) > 0 {
		data["error"] = strings.Join(errs, "; ")
	} else {
		data["error"] = nil
	}
	return data
}

// Run collects and posts the data, retrying connection errors, 5xx and
// 409, and returns the node UUID from the answer ("" if none).
func Run(ctx context.Context, o Options) (string, error) {
	body, err := json.Marshal(Collect(ctx, o))
	if err != nil {
		return "", err
	}
	b := o.Retry
	if b == nil {
		e := backoff.NewExponentialBackOff()
		e.InitialInterval, e.MaxInterval, e.MaxElapsedTime = 5*time.Second, 30*time.Second, 0
		b = backoff.WithMaxRetries(e, 4)
	}
	var uuid string
	op := func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.URL, bytes.NewReader(body))
		if err != nil {
			return backoff.Permanent(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		resp, err := o.HTTP.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		switch {
		case resp.StatusCode >= 500 || resp.StatusCode == http.StatusConflict:
			return fmt.Errorf("inspection: %s: %s", resp.Status, msg)
		case resp.StatusCode >= 400:
			return backoff.Permanent(fmt.Errorf("%w: %s: %s", ErrRejected, resp.Status, msg))
		}
		var ans struct {
			UUID string `json:"uuid"`
			Node struct {
				UUID string `json:"uuid"`
			} `json:"node"`
		}
		_ = json.Unmarshal(msg, &ans)
		uuid = ans.UUID
		if uuid == "" {
			uuid = ans.Node.UUID
		}
		return nil
	}
	notify := func(err error, d time.Duration) {
		o.Log.Warn("inspection: sending the data failed, retrying", "error", err, "retry_in", d)
	}
	if err := backoff.RetryNotify(op, backoff.WithContext(b, ctx), notify); err != nil {
		return "", err
	}
	o.Log.Info("inspection data sent", "url", o.URL, "node", uuid)
	return uuid, nil
}
