package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"unicode"
)

// ParseCmdline returns the key=value words of a kernel command line (or of a
// virtual media parameters.txt). Words are split on whitespace outside double
// quotes and the quotes are dropped, as the kernel does: key="a b" and
// "key=a b" both give key → "a b". Words without "=" are ignored; a repeated
// key keeps its last value.
func ParseCmdline(s string) map[string]string {
	params := map[string]string{}
	var word strings.Builder
	inQuote, inWord := false, false
	flush := func() {
		if k, v, ok := strings.Cut(word.String(), "="); ok && k != "" {
			params[k] = v
		}
		word.Reset()
		inWord = false
	}
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			inWord = true
		case unicode.IsSpace(r) && !inQuote:
			if inWord {
				flush()
			}
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	flush()
	return params
}

// applyCmdline sets c from the kernel parameters in params. An invalid
// value leaves its setting as it was; every one is in the error.
func applyCmdline(c *Config, params map[string]string) error {
	const src = "kernel command line"
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := params[k]
		c.Cmdline[k] = v
		o, ok := byKernel[k]
		if !ok {
			if strings.HasPrefix(k, "ipa-") {
				c.Unknown = append(c.Unknown, k)
			}
			continue
		}
		if err := o.value(c).Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w %q: %v", src, k, ErrInvalidValue, v, err))
		}
	}
	if raw, ok := params["BOOTIF"]; ok {
		if mac, err := normalizeBootIF(raw); err != nil {
			errs = append(errs, fmt.Errorf("%s: BOOTIF: %w %q: %v", src, ErrInvalidValue, raw, err))
		} else {
			c.BootIF, c.BootIFRaw = mac, raw
		}
	}
	return errors.Join(errs...)
}

// normalizeBootIF turns PXELINUX's "01-aa-bb-cc-dd-ee-ff" (ARP type 1,
// Ethernet, then the MAC) or a plain MAC into "aa:bb:cc:dd:ee:ff".
func normalizeBootIF(s string) (string, error) {
	if strings.Count(s, "-") == 6 {
		typ, rest, _ := strings.Cut(s, "-")
		if typ != "01" {
			return "", fmt.Errorf("hardware type %q is not Ethernet (01)", typ)
		}
		s = rest
	}
	mac, err := net.ParseMAC(s)
	if err != nil || len(mac) != 6 {
		return "", fmt.Errorf(`want "01-aa-bb-cc-dd-ee-ff" or "aa:bb:cc:dd:ee:ff"`)
	}
	return mac.String(), nil
}
