// Package knob reads the settings a node carries for in-band steps
// (driver_info, driver_internal_info, step args) with oslo's rules, so every
// step reads a knob the same way: JSON gives numbers and booleans, the
// baremetal CLI strings, and an empty string is a knob left unset.
package knob

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// StrictBool reads v as oslo's bool_from_string(strict=True): a JSON
// boolean, 0/1, or one of its words.
func StrictBool(v any) (bool, error) {
	if b, ok := v.(bool); ok {
		return b, nil
	}
	s := fmt.Sprint(v)
	if f, ok := v.(float64); ok && f == math.Trunc(f) {
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "on", "y", "yes":
		return true, nil
	case "0", "f", "false", "off", "n", "no":
		return false, nil
	}
	return false, fmt.Errorf("%v is not a boolean", v)
}

// unset is a knob that is absent, null or an empty string.
func unset(v any) bool {
	s, ok := v.(string)
	return v == nil || ok && strings.TrimSpace(s) == ""
}

// Bool reads m[key] as a boolean; unset is def.
func Bool(m map[string]any, key string, def bool) (bool, error) {
	v := m[key]
	if unset(v) {
		return def, nil
	}
	b, err := StrictBool(v)
	if err != nil {
		return false, fmt.Errorf("%s = %v (%T): want a boolean", key, v, v)
	}
	return b, nil
}

// Int reads m[key] as an integer from lo to hi, given as a JSON number or
// a string; unset is def.
func Int(m map[string]any, key string, def, lo, hi int) (int, error) {
	var n int64
	var ok bool
	switch v := m[key].(type) {
	case float64:
		n, ok = int64(v), v == math.Trunc(v) && math.Abs(v) < 1<<53
	case int:
		n, ok = int64(v), true
	case int64:
		n, ok = v, true
	case json.Number:
		i, err := v.Int64()
		n, ok = i, err == nil
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		n, ok = i, err == nil
	}
	switch {
	case unset(m[key]):
		return def, nil
	case !ok:
		return 0, fmt.Errorf("%s = %v (%T): want an integer", key, m[key], m[key])
	case n < int64(lo) || n > int64(hi):
		return 0, fmt.Errorf("%s = %d: want %d to %d", key, n, lo, hi)
	}
	return int(n), nil
}
