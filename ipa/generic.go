package ipa

// Generic is the generic hardware manager: it supports every machine at the
// lowest level, and vendor managers override its steps by name.
type Generic struct {
	funcs map[string]StepFunc
	steps map[string][]Step
}

// NewGeneric returns the generic manager. Steps are added by the packages
// that implement them (image writing, erasure, RAID) through Add.
func NewGeneric() *Generic {
	return &Generic{funcs: map[string]StepFunc{}, steps: map[string][]Step{}}
}

// Add registers a step of a kind; a step without a kind (Step zero) only
// registers the method for dispatch.
func (g *Generic) Add(kind string, s Step, fn StepFunc) {
	if kind != "" {
		g.steps[kind] = append(g.steps[kind], s)
	}
	g.funcs[s.Step] = fn
}

// Class implements Manager.
func (g *Generic) Class() string { return "GenericHardwareManager" }

// Name implements Manager.
func (g *Generic) Name() string { return "generic_hardware_manager" }

// Version implements Manager; IPA's generic manager is at 1.2.
func (g *Generic) Version() string { return "1.2" }

// Support implements Manager.
func (g *Generic) Support() Support { return SupportGeneric }

// Steps implements Manager.
func (g *Generic) Steps(kind string) []Step { return g.steps[kind] }

// Func implements Manager.
func (g *Generic) Func(name string) (StepFunc, bool) {
	f, ok := g.funcs[name]
	return f, ok
}
