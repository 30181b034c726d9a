package config

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ErrSyntax is wrapped by errors for malformed config files.
var ErrSyntax = errors.New("syntax error")

// assignment is one key = value of an INI file.
type assignment struct {
	section, key, value string
	line                int
}

// parseINI reads an oslo.config INI file: [section] headers, "key = value"
// or "key: value", "#" and ";" comment lines, values in matching quotes
// unquoted, and lines starting with a blank continuing the previous value.
func parseINI(r io.Reader) ([]assignment, error) {
	var (
		out     []assignment
		section string
		cur     *assignment
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			if cur == nil {
				return nil, fmt.Errorf("line %d: %w: unexpected continuation line", n, ErrSyntax)
			}
			cur.value += "\n" + strings.TrimLeft(line, " \t")
			continue
		}
		if cur != nil {
			out = append(out, *cur)
			cur = nil
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") || len(line) <= 2 {
				return nil, fmt.Errorf("line %d: %w: bad section header %q", n, ErrSyntax, line)
			}
			section = line[1 : len(line)-1]
			if section != "DEFAULT" {
				section = strings.ToLower(section)
			}
		default:
			i := strings.IndexAny(line, "=:")
			if i < 0 {
				return nil, fmt.Errorf("line %d: %w: no '=' or ':' in %q", n, ErrSyntax, line)
			}
			key := strings.TrimSpace(line[:i])
			if key == "" {
				return nil, fmt.Errorf("line %d: %w: empty key", n, ErrSyntax)
			}
			if section == "" {
				return nil, fmt.Errorf("line %d: %w: %q before any [section]", n, ErrSyntax, key)
			}
			cur = &assignment{section: section, key: key, value: unquote(strings.TrimSpace(line[i+1:])), line: n}
		}
	}
	if cur != nil {
		out = append(out, *cur)
	}
	return out, sc.Err()
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// applyFile sets c from the known options in the config file at path. Keys
// may use "-" for "_"; unknown keys and sections are ignored.
func applyFile(c *Config, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	as, err := parseINI(f)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	var errs []error
	for _, a := range as {
		key := strings.ReplaceAll(a.key, "-", "_")
		o, ok := byKey[a.section+"."+key]
		if !ok {
			c.Unknown = append(c.Unknown, fmt.Sprintf("%s: [%s] %s", path, cmp.Or(a.section, "DEFAULT"), a.key))
			continue
		}
		if err := o.value(c).Set(a.value); err != nil {
			errs = append(errs, fmt.Errorf("config file %s line %d: %s: %w %q: %v", path, a.line, o.fileKey(), ErrInvalidValue, a.value, err))
		}
	}
	return errors.Join(errs...)
}
