package hardware

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/goipa/goipa/hardware/knob"
)

// ErrInvalidHints wraps every error about malformed root device hints.
var ErrInvalidHints = errors.New("invalid root device hints")

// hintKinds are IPA's VALID_ROOT_DEVICE_HINTS.
var hintKinds = map[string]hintKind{
	"size": kindInt, "rotational": kindBool,
	"model": kindString, "wwn": kindString, "serial": kindString, "vendor": kindString,
	"wwn_with_extension": kindString, "wwn_vendor_extension": kindString,
	"name": kindString, "hctl": kindString, "by_path": kindString, "tran": kindString,
}

type hintKind int

const (
	kindString hintKind = iota
	kindInt
	kindBool
)

// Hints are parsed root device hints (contract §6); the zero value has none.
type Hints struct {
	raw   map[string]any
	hints []hint
}

type hint struct {
	key     string
	op      string
	values  []string // lower-cased and URL-quoted for strings; numbers as given for size
	boolean bool     // rotational
	rng     valueRange
}

// valueRange is a <range-in> operand such as "( 10 100 ]".
type valueRange struct {
	lo, hi             float64
	loClosed, hiClosed bool
}

// Operators in the order oslo.utils' grammar tries them: n-ary ones first,
// then the unary ones, longer before their prefixes.
var (
	naryOps  = []string{"<or>", "<all-in>", "<range-in>"}
	unaryOps = []string{"==", "=", "!=", "<in>", ">=", "<=", ">", "<", "s==", "s!=", "s<=", "s<", "s>=", "s>"}
	numOps   = []string{"=", "==", "!=", ">=", ">", "<=", "<"}
)

// ParseHints validates a node's root_device dict as IPA's
// parse_root_device_hints does: known keys only, strings for string hints,
// positive integers (GiB) for size, a strict boolean for rotational.
func ParseHints(m map[string]any) (Hints, error) {
	h := Hints{raw: m}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var unknown []string
	for _, k := range keys {
		if _, ok := hintKinds[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		valid := make([]string, 0, len(hintKinds))
		for k := range hintKinds {
			valid = append(valid, k)
		}
		slices.Sort(valid)
		return Hints{}, fmt.Errorf("%w: unknown hints %q, valid hints are %q", ErrInvalidHints, unknown, valid)
	}
	for _, k := range keys {
		hn, err := parseHint(k, m[k])
		if err != nil {
			return Hints{}, fmt.Errorf("%w: %s: %w", ErrInvalidHints, k, err)
		}
		h.hints = append(h.hints, hn)
	}
	return h, nil
}

func parseHint(key string, v any) (hint, error) {
	hn := hint{key: key}
	switch hintKinds[key] {
	case kindBool:
		b, err := knob.StrictBool(v)
		hn.boolean = b
		return hn, err
	case kindString:
		s, ok := v.(string)
		if !ok {
			return hn, fmt.Errorf("%v is not a string", v)
		}
		return hn, hn.parseExpr(s, "s==")
	default:
		s, err := intExpr(v)
		if err != nil {
			return hn, err
		}
		if err := hn.parseExpr(s, "=="); err != nil {
			return hn, err
		}
		if !slices.Contains(numOps, hn.op) && hn.op != "<or>" && hn.op != "<range-in>" {
			return hn, fmt.Errorf("operator %s does not compare numbers", hn.op)
		}
		if hn.op != "<range-in>" {
			for _, n := range hn.values {
				if i, err := strconv.Atoi(n); err != nil || i <= 0 {
					return hn, fmt.Errorf("%q is not a positive integer", n)
				}
			}
		}
		return hn, nil
	}
}

// parseExpr splits "[op] value [op value]…", as IPA does before handing
// the expression to oslo.utils' specs matcher.
func (hn *hint) parseExpr(expr, defaultOp string) error {
	expr = strings.ToLower(strings.TrimSpace(expr))
	if expr == "" {
		return errors.New("empty expression")
	}
	for _, op := range append(slices.Clone(naryOps), unaryOps...) {
		if strings.HasPrefix(expr, op) {
			hn.op = op
			break
		}
	}
	if hn.op == "" {
		hn.op, hn.values = defaultOp, []string{expr}
	} else {
		for _, v := range strings.Split(expr, hn.op) {
			if v = strings.TrimSpace(v); v != "" {
				hn.values = append(hn.values, v)
			}
		}
		if hn.op == "<all-in>" { // its operands are words
			hn.values = strings.Fields(strings.Join(hn.values, " "))
		}
		if len(hn.values) == 0 {
			return fmt.Errorf("operator %s without a value", hn.op)
		}
	}
	if hn.op == "<range-in>" {
		return hn.parseRange()
	}
	if slices.Contains(numOps, hn.op) {
		for _, v := range hn.values {
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				return fmt.Errorf("operator %s needs a number, not %q", hn.op, v)
			}
		}
		return nil
	}
	if hintKinds[hn.key] == kindString {
		for i, v := range hn.values {
			// A name hint may leave out /dev/, except as a substring.
			if hn.key == "name" && !strings.HasPrefix(v, "/") && hn.op != "<in>" && hn.op != "<all-in>" {
				v = "/dev/" + v
			}
			hn.values[i] = quote(v)
		}
	}
	return nil
}

func (hn *hint) parseRange() error {
	v := hn.values[0]
	bad := fmt.Errorf("<range-in> wants \"( lo hi ]\" with [ or ( and ] or ), not %q", v)
	if len(v) < 2 || !strings.ContainsRune("([", rune(v[0])) || !strings.ContainsRune(")]", rune(v[len(v)-1])) {
		return bad
	}
	f := strings.Fields(v[1 : len(v)-1])
	if len(f) != 2 {
		return bad
	}
	lo, err1 := strconv.ParseFloat(f[0], 64)
	hi, err2 := strconv.ParseFloat(f[1], 64)
	if err1 != nil || err2 != nil || lo > hi {
		return fmt.Errorf("<range-in> bounds %q %q are not numbers in order", f[0], f[1])
	}
	hn.rng = valueRange{lo: lo, hi: hi, loClosed: v[0] == '[', hiClosed: v[len(v)-1] == ']'}
	return nil
}

// quote is Python's urllib.parse.quote(s, safe='/').
func quote(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_.-~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// intExpr accepts a size as JSON gives it: a number or an expression.
func intExpr(v any) (string, error) {
	switch n := v.(type) {
	case string:
		return n, nil
	case float64:
		if n != math.Trunc(n) {
			return "", fmt.Errorf("%v is not an integer", n)
		}
		return strconv.FormatFloat(n, 'f', -1, 64), nil
	case int:
		return strconv.Itoa(n), nil
	case int64:
		return strconv.FormatInt(n, 10), nil
	case json.Number:
		return n.String(), nil
	}
	return "", fmt.Errorf("%v is not an integer", v)
}

// Empty reports hints with no keys.
func (h Hints) Empty() bool { return len(h.hints) == 0 }

// String renders the hints as the node gave them, for messages.
func (h Hints) String() string {
	b, err := json.Marshal(h.raw)
	if err != nil {
		return fmt.Sprint(h.raw)
	}
	return string(b)
}

// Match reports whether a device satisfies every hint.
func (h Hints) Match(d BlockDevice) bool {
	for _, hn := range h.hints {
		if !hn.match(d) {
			return false
		}
	}
	return true
}

// MatchHints returns the devices that satisfy every hint, in order.
func MatchHints(devices []BlockDevice, h Hints) []BlockDevice {
	var out []BlockDevice
	for _, d := range devices {
		if h.Match(d) {
			out = append(out, d)
		}
	}
	return out
}

func (hn hint) match(d BlockDevice) bool {
	switch hn.key {
	case "rotational":
		return d.Rotational == hn.boolean
	case "size":
		return hn.compare("", float64(d.Size)/(1<<30), true)
	}
	v := deviceString(d, hn.key)
	if v == nil {
		// IPA normalises str(None), so a missing value reads "none".
		v = ptr("None")
	}
	s := strings.ToLower(strings.TrimSpace(*v))
	if s == "" {
		return false
	}
	num, err := strconv.ParseFloat(s, 64)
	return hn.compare(quote(s), num, err == nil)
}

// compare applies the operator to a device value: the normalised string,
// and its number when it is one.
func (hn hint) compare(s string, num float64, isNum bool) bool {
	v0 := hn.values[0]
	if slices.Contains(numOps, hn.op) || hn.op == "<range-in>" || hintKinds[hn.key] == kindInt && hn.op == "<or>" {
		if !isNum {
			return false
		}
		if hn.op == "<range-in>" {
			r := hn.rng
			return (num > r.lo || r.loClosed && num == r.lo) && (num < r.hi || r.hiClosed && num == r.hi)
		}
		want := func(v string) float64 { f, _ := strconv.ParseFloat(v, 64); return f }
		switch hn.op {
		case "<or>":
			return slices.ContainsFunc(hn.values, func(v string) bool { return num == want(v) })
		case "=", ">=":
			return num >= want(v0)
		case "==":
			return num == want(v0)
		case "!=":
			return num != want(v0)
		case ">":
			return num > want(v0)
		case "<=":
			return num <= want(v0)
		case "<":
			return num < want(v0)
		}
	}
	switch hn.op {
	case "s==":
		return s == v0
	case "s!=":
		return s != v0
	case "s<":
		return s < v0
	case "s<=":
		return s <= v0
	case "s>":
		return s > v0
	case "s>=":
		return s >= v0
	case "<in>":
		return strings.Contains(s, v0)
	case "<all-in>":
		return !slices.ContainsFunc(hn.values, func(v string) bool { return !strings.Contains(s, v) })
	case "<or>":
		return slices.Contains(hn.values, s)
	}
	return false
}

func deviceString(d BlockDevice, key string) *string {
	switch key {
	case "name":
		return &d.Name
	case "model":
		return d.Model
	case "wwn":
		return d.WWN
	case "serial":
		return d.Serial
	case "vendor":
		return d.Vendor
	case "wwn_with_extension":
		return d.WWNWithExtension
	case "wwn_vendor_extension":
		return d.WWNVendorExtension
	case "hctl":
		return d.HCTL
	case "by_path":
		return d.ByPath
	case "tran":
		return d.Tran
	}
	return nil
}
