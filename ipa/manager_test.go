package ipa

import (
	"context"
	"testing"
)

type vendor struct {
	*Generic
	support Support
}

func (v vendor) Class() string    { return "VendorManager" }
func (v vendor) Name() string     { return "vendor_manager" }
func (v vendor) Version() string  { return "3" }
func (v vendor) Support() Support { return v.support }

func TestStepsDeduplicatedBySupportThenPriority(t *testing.T) {
	g := NewGeneric()
	nop := func(context.Context, Request) (any, error) { return "generic", nil }
	g.Add(Clean, Step{Interface: "deploy", Step: "erase_devices", Priority: 10}, nop)
	g.Add(Clean, Step{Interface: "deploy", Step: "erase_pstore", Priority: 0}, nop)

	v := vendor{Generic: NewGeneric(), support: SupportMainline}
	v.Add(Clean, Step{Interface: "deploy", Step: "erase_devices", Priority: 5}, func(context.Context, Request) (any, error) {
		return "vendor", nil
	})
	ms := Select(g, v, vendor{Generic: NewGeneric(), support: SupportNone})
	if len(ms) != 2 || ms[0].Class() != "VendorManager" {
		t.Fatalf("Select = %v", ms)
	}
	steps := ms.Steps(Clean)
	if got := steps["VendorManager"]; len(got) != 1 || got[0].Step != "erase_devices" {
		t.Errorf("vendor steps = %v", got)
	}
	if got := steps["GenericHardwareManager"]; len(got) != 1 || got[0].Step != "erase_pstore" {
		t.Errorf("generic steps = %v", got)
	}
	fn, err := ms.Dispatch("erase_devices")
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := fn(context.Background(), Request{}); r != "vendor" {
		t.Errorf("dispatch went to %v", r)
	}
	if _, err := ms.Dispatch("nope"); err != ErrNoManager {
		t.Errorf("Dispatch(nope) = %v", err)
	}
	if v := ms.Versions(); v["generic_hardware_manager"] != "1.2" || v["vendor_manager"] != "3" {
		t.Errorf("Versions = %v", v)
	}
}

func TestSameSupportHigherPriorityWins(t *testing.T) {
	a := vendor{Generic: NewGeneric(), support: SupportGeneric}
	g := NewGeneric()
	nop := func(context.Context, Request) (any, error) { return nil, nil }
	g.Add(Deploy, Step{Interface: "deploy", Step: "write_image", Priority: 0}, nop)
	a.Add(Deploy, Step{Interface: "deploy", Step: "write_image", Priority: 80}, nop)
	steps := Select(g, a).Steps(Deploy)
	if len(steps["VendorManager"]) != 1 || len(steps["GenericHardwareManager"]) != 0 {
		t.Errorf("steps = %v", steps)
	}
}
