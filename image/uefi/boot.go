package uefi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"
)

// ErrNoFreeBootNumber: all of Boot0000 to BootFFFF exist.
var ErrNoFreeBootNumber = errors.New("no free boot entry number")

// BootEntry is one Boot#### variable.
type BootEntry struct {
	Num uint16
	LoadOption
}

func (v *Vars) log() *slog.Logger {
	if v.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return v.Log
}

// BootName is the variable name of entry num, e.g. Boot000A.
func BootName(num uint16) string { return fmt.Sprintf("Boot%04X", num) }

// bootNum reads the number of a Boot#### name: four upper-case hex digits,
// as the spec writes them (Boot0001, not Boot0001x or boot0001).
func bootNum(name string) (uint16, bool) {
	if len(name) != 8 || name[:4] != "Boot" {
		return 0, false
	}
	for _, c := range name[4:] {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(name[4:], 16, 16)
	return uint16(n), err == nil
}

// BootEntries lists the boot entries by number. An entry that is not a
// valid load option is left out with a warning: the firmware skips it too.
func (v *Vars) BootEntries() ([]BootEntry, error) {
	nums, err := v.bootNums()
	if err != nil {
		return nil, err
	}
	var entries []BootEntry
	for _, num := range nums {
		_, data, err := v.Get(BootName(num), GlobalVariable)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		o, err := ParseLoadOption(data)
		if err != nil {
			v.log().Warn("skipping an unreadable UEFI boot entry", "entry", BootName(num), "error", err)
			continue
		}
		entries = append(entries, BootEntry{Num: num, LoadOption: *o})
	}
	return entries, nil
}

func (v *Vars) bootNums() ([]uint16, error) {
	names, err := v.Names(GlobalVariable)
	if err != nil {
		return nil, err
	}
	var nums []uint16
	for _, name := range names {
		if n, ok := bootNum(name); ok {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	return nums, nil
}

// BootOrder is the firmware's boot order; none when the variable is unset.
func (v *Vars) BootOrder() ([]uint16, error) {
	_, data, err := v.Get("BootOrder", GlobalVariable)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return uint16s("BootOrder", data)
}

// BootCurrent is the entry the firmware started this boot from.
func (v *Vars) BootCurrent() (uint16, error) {
	_, data, err := v.Get("BootCurrent", GlobalVariable)
	if err != nil {
		return 0, err
	}
	n, err := uint16s("BootCurrent", data)
	if err != nil || len(n) != 1 {
		return 0, fmt.Errorf("BootCurrent of %d bytes", len(data))
	}
	return n[0], nil
}

func uint16s(name string, b []byte) ([]uint16, error) {
	if len(b)%2 != 0 {
		return nil, fmt.Errorf("%s has an odd length (%d bytes)", name, len(b))
	}
	n := make([]uint16, len(b)/2)
	for i := range n {
		n[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return n, nil
}

func (v *Vars) setBootOrder(order []uint16) error {
	if len(order) == 0 {
		// An empty write would delete it on efivarfs, but not in a plain
		// directory: remove it explicitly.
		if err := v.Remove("BootOrder", GlobalVariable); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	var b []byte
	for _, n := range order {
		b = binary.LittleEndian.AppendUint16(b, n)
	}
	return v.Set("BootOrder", GlobalVariable, bootAttrs, b)
}

// AddBootEntry writes o as the lowest free Boot#### and puts it first in
// BootOrder, as efibootmgr -c does; it returns the number.
func (v *Vars) AddBootEntry(o *LoadOption) (uint16, error) {
	data, err := o.MarshalBinary()
	if err != nil {
		return 0, err
	}
	nums, err := v.bootNums()
	if err != nil {
		return 0, err
	}
	num := 0
	for _, n := range nums { // sorted
		if int(n) != num {
			break
		}
		num++
	}
	if num > 0xffff {
		return 0, ErrNoFreeBootNumber
	}
	if err := v.Set(BootName(uint16(num)), GlobalVariable, bootAttrs, data); err != nil {
		return 0, fmt.Errorf("creating %s: %w", BootName(uint16(num)), err)
	}
	order, err := v.BootOrder()
	if err != nil {
		return uint16(num), err
	}
	order = slices.DeleteFunc(order, func(n uint16) bool { return n == uint16(num) })
	if err := v.setBootOrder(append([]uint16{uint16(num)}, order...)); err != nil {
		return uint16(num), fmt.Errorf("putting %s first in BootOrder: %w", BootName(uint16(num)), err)
	}
	return uint16(num), nil
}

// DeleteBootEntry removes Boot#### and drops it from BootOrder, as
// efibootmgr -b #### -B does.
func (v *Vars) DeleteBootEntry(num uint16) error {
	if err := v.Remove(BootName(num), GlobalVariable); err != nil {
		return fmt.Errorf("deleting %s: %w", BootName(num), err)
	}
	order, err := v.BootOrder()
	if err != nil {
		return err
	}
	if !slices.Contains(order, num) {
		return nil
	}
	if err := v.setBootOrder(slices.DeleteFunc(order, func(n uint16) bool { return n == num })); err != nil {
		return fmt.Errorf("dropping %s from BootOrder: %w", BootName(num), err)
	}
	return nil
}
