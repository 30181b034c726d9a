package inject

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
)

// ErrInvalidSpec: a file to inject is described wrongly (IPA's
// InvalidCommandParamsError).
var ErrInvalidSpec = errors.New("invalid file specification")

// File is one entry of the files argument (or of the node's
// properties.inject_files).
type File struct {
	// Path is the file's path in the instance's filesystem.
	Path string
	// Partition is "" (search the root device's partitions for the one
	// holding the path's first directory), a partition number of the root
	// device, or a device path.
	Partition string
	// Content is base64, or a URL (anything with "://") whose {node[...]}
	// and {ports[i][...]} fields are filled from the node and its ports.
	Content string
	// Deleted removes the file instead.
	Deleted bool
	// Mode, DirMode (for the leaf directory, if created), Owner and Group
	// are nil when not given.
	Mode, DirMode, Owner, Group *int
}

// IsURL reports whether Content is to be downloaded.
func (f File) IsURL() bool { return strings.Contains(f.Content, "://") }

var knownFields = []string{"path", "partition", "content", "deleted", "mode", "dirmode", "owner", "group"}

// ParseFiles validates the files to inject as IPA's _validate_files does:
// the node's properties.inject_files first, then the step's files. Every
// problem is reported at once, wrapped in ErrInvalidSpec.
func ParseFiles(fromProperties, fromArgs any) ([]File, error) {
	var items []any
	for _, src := range []struct {
		what string
		v    any
	}{{"the inject_files node property", fromProperties}, {"the files argument", fromArgs}} {
		switch v := src.v.(type) {
		case nil:
		case []any:
			items = append(items, v...)
		default:
			return nil, fmt.Errorf("%w: %s must be a list, got %T", ErrInvalidSpec, src.what, src.v)
		}
	}
	var files []File
	var failures []string
	for _, it := range items {
		f, errs := parseFile(it)
		if len(errs) > 0 {
			b, _ := json.Marshal(redacted(it))
			failures = append(failures, fmt.Sprintf("%s in %s", strings.Join(errs, ", "), b))
			continue
		}
		files = append(files, f)
	}
	if len(failures) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidSpec, strings.Join(failures, "; "))
	}
	return files, nil
}

// redacted drops the content from an entry quoted in an error: it may be
// large, or secret.
func redacted(it any) any {
	m, ok := it.(map[string]any)
	if !ok {
		return it
	}
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	if _, ok := out["content"]; ok {
		out["content"] = "..."
	}
	return out
}

func parseFile(it any) (File, []string) {
	m, ok := it.(map[string]any)
	if !ok {
		return File{}, []string{fmt.Sprintf("expected an object, got %T", it)}
	}
	var f File
	var errs []string
	var unknown []string
	for k := range m {
		if !slices.Contains(knownFields, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		errs = append(errs, "unexpected fields "+strings.Join(unknown, ", "))
	}
	p, _ := m["path"].(string)
	f.Path = p
	switch {
	case p == "":
		errs = append(errs, "expected a path")
	case strings.HasSuffix(p, "/"):
		errs = append(errs, "directories are not supported")
	case slices.Contains(strings.Split(p, "/"), ".."):
		errs = append(errs, "the path must not contain ..")
	}
	switch v := m["partition"].(type) {
	case nil:
	case string:
		f.Partition = v
	case float64:
		if v != math.Trunc(v) || v < 1 {
			errs = append(errs, "partition must be a positive number or a device path")
		}
		f.Partition = strconv.Itoa(int(v))
	default:
		errs = append(errs, "partition must be a number or a device path")
	}
	if p != "" && path.Dir("/"+strings.TrimLeft(p, "/")) == "/" && f.Partition == "" {
		errs = append(errs, "a file in the root directory requires a partition")
	}
	switch v := m["deleted"].(type) {
	case nil:
	case bool:
		f.Deleted = v
	default:
		errs = append(errs, "deleted must be a boolean")
	}
	switch v := m["content"].(type) {
	case nil:
		if !f.Deleted {
			errs = append(errs, "expected content (or deleted)")
		}
	case string:
		f.Content = v
		if f.Deleted && v != "" {
			errs = append(errs, "content cannot be used with deleted")
		}
		if !f.IsURL() {
			if _, err := decodeBase64(v); err != nil {
				errs = append(errs, "content is neither base64 nor a URL: "+err.Error())
			}
		}
	default:
		errs = append(errs, "content must be a string (base64 or a URL)")
	}
	for _, n := range []struct {
		key    string
		dst    **int
		lo, hi int
	}{{"mode", &f.Mode, 0, 0o7777}, {"dirmode", &f.DirMode, 0, 0o7777}, {"owner", &f.Owner, -1, math.MaxUint32 - 1}, {"group", &f.Group, -1, math.MaxUint32 - 1}} {
		v, present := m[n.key]
		if !present || v == nil {
			continue
		}
		num, ok := v.(float64)
		if !ok || num != math.Trunc(num) {
			errs = append(errs, n.key+" must be a number")
			continue
		}
		if num < float64(n.lo) || num > float64(n.hi) {
			errs = append(errs, fmt.Sprintf("%s must be %d to %#o", n.key, n.lo, n.hi))
			continue
		}
		i := int(num)
		*n.dst = &i
	}
	return f, errs
}

// decodeBase64 decodes standard base64, ignoring line breaks and spaces.
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	return base64.StdEncoding.DecodeString(s)
}
