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

	"github.com/goipa/goipa/agent/command"
	"github.com/goipa/goipa/hardware"
)

// Register adds clean.*, deploy.* and service.* backed by managers.
// cacheNode, if set, receives the node the conductor sends with each call,
// as IPA's hardware.cache_node keeps it for commands that come without one
// (install_bootloader, prepare_image).
func Register(r *command.Runner, managers hardware.Managers, cacheNode func(map[string]any)) {
	cache := func(n map[string]any) {
		if n != nil && cacheNode != nil {
			cacheNode(n)
		}
	}
	for _, kind := range []string{hardware.Clean, hardware.Deploy, hardware.Service} {
		r.Register(kind, "get_"+kind+"_steps", command.Sync(func(_ context.Context, p getParams) (any, error) {
			cache(p.Node)
			return map[string]any{
				kind + "_steps":            managers.Steps(kind),
				"hardware_manager_version": managers.Versions(),
			}, nil
		}))
		r.Register(kind, "execute_"+kind+"_step", command.Async(func(ctx context.Context, p executeParams) (any, error) {
			cache(p.Node)
			return execute(ctx, managers, kind, p)
		}))
	}
}

type getParams struct {
	Node map[string]any `json:"node"`
}

type executeParams struct {
	Step  map[string]any   `json:"step"`
	Node  map[string]any   `json:"node"`
	Ports []map[string]any `json:"ports"`
	raw   map[string]json.RawMessage
}

// UnmarshalJSON reads <kind>_version whatever the kind.
func (p *executeParams) UnmarshalJSON(b []byte) error {
	type plain executeParams
	if err := json.Unmarshal(b, (*plain)(p)); err != nil {
		return err
	}
	return json.Unmarshal(b, &p.raw)
}

// Validate checks the step dict the way IPA's validator does.
func (p *executeParams) Validate() error {
	if p.Step == nil {
		return errors.New("step is required")
	}
	if name, ok := p.Step["step"].(string); !ok || name == "" {
		return errors.New("step must have a 'step' name")
	}
	return nil
}

func execute(ctx context.Context, managers hardware.Managers, kind string, p executeParams) (any, error) {
	if raw, ok := p.raw[kind+"_version"]; ok && string(raw) != "null" {
		var given map[string]string
		if err := json.Unmarshal(raw, &given); err != nil {
			return nil, command.InvalidParams("%s_version: %v", kind, err)
		}
		if current := managers.Versions(); !maps.Equal(given, current) {
			return nil, command.VersionMismatch(current, given)
		}
	}
	name := p.Step["step"].(string)
	fn, err := managers.Dispatch(name)
	if err != nil {
		return nil, fmt.Errorf("%s step %s: %w", kind, name, err)
	}
	args := map[string]json.RawMessage{}
	if a, ok := p.Step["args"].(map[string]any); ok {
		for k, v := range a {
			b, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			args[k] = b
		}
	}
	res, err := fn(ctx, hardware.Request{Node: p.Node, Ports: p.Ports, Args: args})
	if err != nil {
		return nil, err
	}
	return map[string]any{kind + "_result": res, kind + "_step": p.Step}, nil
}
