// Package steps registers the clean, deploy and service extensions: the
// conductor asks for the steps of each kind and runs them one at a time
// (contract §3, §4), with the step echoed back so the conductor can tell
// which one finished.
package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/goipa/goipa/ipa"
)

// Register adds clean.*, deploy.* and service.* backed by managers.
// cacheNode, if set, receives the node the conductor sends with each call,
// as IPA's hardware.cache_node keeps it for commands that come without one
// (install_bootloader, prepare_image).
func Register(r *ipa.Runner, managers ipa.Managers, cacheNode func(ipa.Node)) {
	cache := func(n ipa.Node) {
		if !n.Empty() && cacheNode != nil {
			cacheNode(n)
		}
	}
	for _, kind := range []string{ipa.Clean, ipa.Deploy, ipa.Service} {
		r.Register(kind, "get_"+kind+"_steps", ipa.Sync(func(_ context.Context, p getParams) (any, error) {
			cache(p.Node)
			return map[string]any{
				kind + "_steps":            managers.Steps(kind),
				"hardware_manager_version": managers.Versions(),
			}, nil
		}))
		r.Register(kind, "execute_"+kind+"_step", ipa.Async(func(ctx context.Context, p executeParams) (any, error) {
			cache(p.Node)
			return execute(ctx, managers, kind, p)
		}))
	}
}

type getParams struct {
	Node ipa.Node `json:"node"`
}

// stepCall is the step dict of execute_*_step. Its args stay as they came
// on the wire until the step decodes them into its own arguments, and the
// dict is echoed back byte for byte.
type stepCall struct {
	Name string          `json:"step"`
	Args json.RawMessage `json:"args"`
	raw  json.RawMessage
}

func (s *stepCall) UnmarshalJSON(b []byte) error {
	type plain stepCall
	if err := json.Unmarshal(b, (*plain)(s)); err != nil {
		return err
	}
	s.raw = append(json.RawMessage(nil), b...)
	return nil
}

func (s stepCall) MarshalJSON() ([]byte, error) { return s.raw, nil }

type executeParams struct {
	Step  *stepCall        `json:"step"`
	Node  ipa.Node         `json:"node"`
	Ports []map[string]any `json:"ports"`
	// <kind>_version: the hardware managers the conductor's steps came from.
	Clean   json.RawMessage `json:"clean_version"`
	Deploy  json.RawMessage `json:"deploy_version"`
	Service json.RawMessage `json:"service_version"`
}

// Validate checks the step dict the way IPA's validator does.
func (p *executeParams) Validate() error {
	if p.Step == nil {
		return errors.New("step is required")
	}
	if p.Step.Name == "" {
		return errors.New("step must have a 'step' name")
	}
	return nil
}

func (p *executeParams) version(kind string) json.RawMessage {
	switch kind {
	case ipa.Clean:
		return p.Clean
	case ipa.Deploy:
		return p.Deploy
	}
	return p.Service
}

func execute(ctx context.Context, managers ipa.Managers, kind string, p executeParams) (any, error) {
	if raw := p.version(kind); len(raw) > 0 && string(raw) != "null" {
		var given map[string]string
		if err := json.Unmarshal(raw, &given); err != nil {
			return nil, ipa.InvalidParams("%s_version: %v", kind, err)
		}
		if current := managers.Versions(); !maps.Equal(given, current) {
			return nil, ipa.VersionMismatch(current, given)
		}
	}
	fn, err := managers.Dispatch(p.Step.Name)
	if err != nil {
		return nil, fmt.Errorf("%s step %s: %w", kind, p.Step.Name, err)
	}
	res, err := fn(ctx, ipa.Request{Node: p.Node, Ports: p.Ports, Args: p.Step.Args})
	if err != nil {
		return nil, err
	}
	return map[string]any{kind + "_result": res, kind + "_step": p.Step}, nil
}

// abortable is IPA's abortable=True, for the steps the conductor may stop.
var abortable = true
