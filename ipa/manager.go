package ipa

// Hardware managers: the steps the conductor can run in-band (cleaning,
// deploy, service). A vendor adds a Manager in Go without touching the
// generic one; dispatch and step de-duplication follow IPA (contract §4).

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
)

// Support is how well a manager supports this machine; higher wins.
type Support int

// IPA's HardwareSupport levels.
const (
	SupportNone            Support = 0
	SupportGeneric         Support = 1
	SupportMainline        Support = 2
	SupportServiceProvider Support = 3
)

// Step kinds, as in clean.get_clean_steps / deploy.* / service.*.
const (
	Clean   = "clean"
	Deploy  = "deploy"
	Service = "service"
)

// Arg describes one step argument in argsinfo.
type Arg struct {
	Description string `json:"description"`
	Required    bool   `json:"required"`
}

// Step is a step as get_*_steps reports it.
type Step struct {
	Interface       string         `json:"interface"`
	Step            string         `json:"step"`
	Priority        int            `json:"priority"`
	RebootRequested bool           `json:"reboot_requested"`
	Abortable       *bool          `json:"abortable,omitempty"`
	Argsinfo        map[string]Arg `json:"argsinfo,omitempty"`
}

// Request is what a step function receives: the node and ports the conductor
// sent, and the step's args as they came on the wire, which the step decodes
// once into its own typed arguments.
type Request struct {
	Node  Node
	Ports []map[string]any
	Args  json.RawMessage
}

// DecodeArgs decodes the step args into v (a struct with json tags); absent
// or null args leave v as it is.
func (r Request) DecodeArgs(v any) error {
	if len(r.Args) == 0 || string(r.Args) == "null" {
		return nil
	}
	return json.Unmarshal(r.Args, v)
}

// StepFunc runs a step; its result becomes <kind>_result.
type StepFunc func(ctx context.Context, req Request) (any, error)

// Manager is a hardware manager.
type Manager interface {
	// Class is the key of this manager's steps in get_*_steps
	// (e.g. "GenericHardwareManager").
	Class() string
	// Name and Version form hardware_manager_version; a change tells the
	// conductor its cached steps are stale.
	Name() string
	Version() string
	Support() Support
	// Steps lists the manager's steps of a kind.
	Steps(kind string) []Step
	// Func returns the implementation of a step or method by name, false
	// when this manager does not implement it (IPA's
	// IncompatibleHardwareMethodError: the next manager is asked).
	Func(name string) (StepFunc, bool)
}

// ErrNoManager means no manager implements the requested step.
var ErrNoManager = errors.New("no hardware manager implements the step")

// Managers is the ordered set of active managers, best support first.
type Managers []Manager

// Select keeps managers whose support is above none, best first; ties keep
// their registration order.
func Select(all ...Manager) Managers {
	var out Managers
	for _, m := range all {
		if m.Support() > SupportNone {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Support() > out[j].Support() })
	return out
}

// Versions is hardware_manager_version: name → version of every manager.
func (ms Managers) Versions() map[string]string {
	v := map[string]string{}
	for _, m := range ms {
		v[m.Name()] = m.Version()
	}
	return v
}

// Dispatch returns the first manager's implementation of name.
func (ms Managers) Dispatch(name string) (StepFunc, error) {
	for _, m := range ms {
		if f, ok := m.Func(name); ok {
			return f, nil
		}
	}
	return nil, ErrNoManager
}

// Steps returns {Class: steps} after IPA's de-duplication: a step offered by
// several managers is kept once, from the manager with the highest support,
// then the highest step priority, then the manager name.
func (ms Managers) Steps(kind string) map[string][]Step {
	type cand struct {
		m    Manager
		step Step
	}
	best := map[string]cand{}
	for _, m := range ms {
		for _, s := range m.Steps(kind) {
			b, ok := best[s.Step]
			if !ok || better(m, s, b.m, b.step) {
				best[s.Step] = cand{m, s}
			}
		}
	}
	out := map[string][]Step{}
	for _, m := range ms {
		out[m.Class()] = []Step{}
		for _, s := range m.Steps(kind) {
			if b := best[s.Step]; b.m == m && b.step.Interface == s.Interface {
				out[m.Class()] = append(out[m.Class()], s)
			}
		}
	}
	return out
}

func better(m Manager, s Step, bm Manager, bs Step) bool {
	if m.Support() != bm.Support() {
		return m.Support() > bm.Support()
	}
	if s.Priority != bs.Priority {
		return s.Priority > bs.Priority
	}
	return m.Name() > bm.Name()
}
