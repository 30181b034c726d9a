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
	"slices"
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
	// DHCP is waited for before the inventory (the default collector).
	DHCP DHCPWait
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

// Collectors are the collector names goipa knows, IPA's entry points.
var Collectors = []string{"default", "logs", "extra-hardware", "pci-devices", "numa-topology",
	"dmi-decode", "lldp", "usb-devices"}

// ErrUnknownCollector means a collector name is not one of Collectors.
// As with IPA (whose plugin loader fails), no collector runs: the data
// sent holds only the error, and the inspection fails.
var ErrUnknownCollector = errors.New("failed to load collector")

// Collect gathers the data of every collector; failures are accumulated in
// the "error" field, as IPA does, rather than stopping the inspection. The
// error is ErrUnknownCollector when a name is unknown.
func Collect(ctx context.Context, o Options) (map[string]any, error) {
	data := map[string]any{}
	var errs []string
	if unknown := unknownCollectors(o.Collectors); len(unknown) > 0 {
		err := fmt.Errorf("%w %s", ErrUnknownCollector, pythonSet(unknown))
		data["error"] = failures([]string{"Failed to load collector " + pythonSet(unknown)})
		return data, err
	}
	fail := func(c string, err error) {
		msg := fmt.Sprintf("collector %s failed: %v", c, err)
		o.Log.Error("inspection: " + msg)
		errs = append(errs, msg)
	}
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
			o.DHCP.wait(ctx, o.Log, func() ([]hardware.Interface, error) { return hardware.Interfaces(o.Root, nil) })
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
			// IPA sends the PXE interface, null when the kernel line has no BOOTIF.
			var bootIf *string
			if o.BootIF != "" {
				bootIf = &o.BootIF
			}
			data["boot_interface"] = bootIf
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
		case "extra-hardware":
			data["data"] = hardware.ExtraHardware(o.Root)
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
		case "numa-topology":
			// IPA logs a warning and leaves the key out, without failing.
			t, err := hardware.NUMA(o.Root)
			if err != nil {
				o.Log.Warn("inspection: no NUMA topology", "error", err)
				continue
			}
			data["numa_topology"] = t
		case "dmi-decode":
			d, err := hardware.DMIDecode(o.Root)
			if err != nil {
				fail(c, err)
				continue
			}
			data["dmi"] = d
		case "usb-devices":
			data["usb_devices"] = hardware.USBDevices(o.Root)
		}
	}
	data["error"] = failures(errs)
	return data, nil
}

// failures is IPA's AccumulatedFailures.get_error(): null when nothing
// failed.
func failures(errs []string) any {
	if len(errs) == 0 {
		return nil
	}
	return "The following errors were encountered:\n* " + strings.Join(errs, "\n* ")
}

func unknownCollectors(names []string) []string {
	var unknown []string
	for _, n := range names {
		if !slices.Contains(Collectors, n) && !slices.Contains(unknown, n) {
			unknown = append(unknown, n)
		}
	}
	slices.Sort(unknown)
	return unknown
}

// pythonSet prints names as IPA's message does (a Python set's repr).
func pythonSet(names []string) string {
	return "{'" + strings.Join(names, "', '") + "'}"
}

// Run collects and posts the data, retrying connection errors, 5xx and
// 409, and returns the node UUID from the answer ("" if none).
func Run(ctx context.Context, o Options) (string, error) {
	data, collectErr := Collect(ctx, o)
	body, err := json.Marshal(data)
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
	if collectErr != nil {
		// IPA posts the error, then fails the inspection without the UUID.
		return "", collectErr
	}
	o.Log.Info("inspection data sent", "url", o.URL, "node", uuid)
	return uuid, nil
}
