package inject

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrTemplate: a content URL's {…} field cannot be filled.
var ErrTemplate = errors.New("bad field in content URL")

// expandURL fills a content URL the way IPA's str.format(node=…, ports=…)
// does for deploy templates: {node[key][sub]…} and {ports[i][key]…} take
// values from the node and its ports; {{ and }} stand for braces.
func expandURL(s string, node map[string]any, ports []map[string]any) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{', c == '}' && i+1 < len(s) && s[i+1] == '}':
			b.WriteByte(c)
			i++
		case c == '}':
			return "", fmt.Errorf("%w: single } in %q", ErrTemplate, s)
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("%w: unclosed { in %q", ErrTemplate, s)
			}
			v, err := lookupField(s[i+1:i+end], node, ports)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i += end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func lookupField(field string, node map[string]any, ports []map[string]any) (string, error) {
	name, rest, _ := strings.Cut(field, "[")
	var cur any
	switch name {
	case "node":
		cur = node
	case "ports":
		ps := make([]any, len(ports))
		for i, p := range ports {
			ps[i] = p
		}
		cur = ps
	default:
		return "", fmt.Errorf("%w: {%s}: only node and ports are known", ErrTemplate, field)
	}
	if rest != "" {
		rest = "[" + rest
	}
	for rest != "" {
		if rest[0] != '[' {
			return "", fmt.Errorf("%w: {%s}: only [key] lookups are supported", ErrTemplate, field)
		}
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "", fmt.Errorf("%w: {%s}: unclosed [", ErrTemplate, field)
		}
		key := rest[1:end]
		rest = rest[end+1:]
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[key]
			if !ok {
				return "", fmt.Errorf("%w: {%s}: no key %q", ErrTemplate, field, key)
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(c) {
				return "", fmt.Errorf("%w: {%s}: no index %q among %d", ErrTemplate, field, key, len(c))
			}
			cur = c[i]
		default:
			return "", fmt.Errorf("%w: {%s}: %q is not a container", ErrTemplate, field, key)
		}
	}
	switch v := cur.(type) {
	case string:
		return v, nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case bool:
		if v {
			return "True", nil
		}
		return "False", nil
	case nil:
		return "None", nil
	}
	return "", fmt.Errorf("%w: {%s} is not a single value", ErrTemplate, field)
}
