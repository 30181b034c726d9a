package inject

import (
	"errors"
	"strings"
	"testing"
)

func TestParseFiles(t *testing.T) {
	b64 := "aGVsbG8K" // "hello\n"
	for _, tc := range []struct {
		name        string
		props, args any
		want        int    // files
		err         string // substring of the error
	}{
		{"nothing", nil, nil, 0, ""},
		{"properties then args", []any{map[string]any{"path": "/etc/a", "content": b64}},
			[]any{map[string]any{"path": "/etc/b", "content": b64, "mode": 384.0, "owner": 0.0, "group": 0.0, "dirmode": 448.0}}, 2, ""},
		{"partition number", nil, []any{map[string]any{"path": "/a", "partition": 2.0, "content": b64}}, 1, ""},
		{"partition device", nil, []any{map[string]any{"path": "/a", "partition": "/dev/sda2", "content": b64}}, 1, ""},
		{"URL content", nil, []any{map[string]any{"path": "/etc/a", "content": "https://x/{node[uuid]}"}}, 1, ""},
		{"deleted", nil, []any{map[string]any{"path": "/etc/a", "deleted": true}}, 1, ""},
		{"args not a list", nil, map[string]any{"path": "/etc/a"}, 0, "files argument must be a list"},
		{"property not a list", "x", nil, 0, "inject_files node property must be a list"},
		{"entry not an object", nil, []any{"/etc/a"}, 0, "expected an object"},
		{"unknown field", nil, []any{map[string]any{"path": "/etc/a", "content": b64, "size": 1.0}}, 0, "unexpected fields size"},
		{"no path", nil, []any{map[string]any{"content": b64}}, 0, "expected a path"},
		{"root directory needs a partition", nil, []any{map[string]any{"path": "/a", "content": b64}}, 0, "requires a partition"},
		{"directory", nil, []any{map[string]any{"path": "/etc/a/", "content": b64}}, 0, "directories are not supported"},
		{"dot dot", nil, []any{map[string]any{"path": "/etc/../../a", "content": b64}}, 0, "must not contain .."},
		{"content and deleted", nil, []any{map[string]any{"path": "/etc/a", "content": b64, "deleted": true}}, 0, "content cannot be used with deleted"},
		{"no content", nil, []any{map[string]any{"path": "/etc/a"}}, 0, "expected content"},
		{"bad base64", nil, []any{map[string]any{"path": "/etc/a", "content": "not base64!"}}, 0, "neither base64 nor a URL"},
		{"mode as a string", nil, []any{map[string]any{"path": "/etc/a", "content": b64, "mode": "0644"}}, 0, "mode must be a number"},
		{"owner as a bool", nil, []any{map[string]any{"path": "/etc/a", "content": b64, "owner": true}}, 0, "owner must be a number"},
		{"mode too big", nil, []any{map[string]any{"path": "/etc/a", "content": b64, "mode": 70000.0}}, 0, "mode must be"},
		{"bad partition", nil, []any{map[string]any{"path": "/a", "partition": 0.0, "content": b64}}, 0, "partition must be"},
		{"every failure at once", nil, []any{map[string]any{"content": b64}, map[string]any{"path": "/x/", "content": b64}}, 0,
			"expected a path in {\"content\":\"...\"}; directories are not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFiles(tc.props, tc.args)
			if tc.err != "" {
				if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || len(got) != tc.want {
				t.Fatalf("ParseFiles = %+v, %v; want %d files", got, err, tc.want)
			}
		})
	}
}

func TestParseFilesValues(t *testing.T) {
	got, err := ParseFiles(nil, []any{map[string]any{"path": "/etc/a", "partition": 3.0, "content": "aGk=", "mode": 420.0, "owner": -1.0}})
	if err != nil {
		t.Fatal(err)
	}
	f := got[0]
	if f.Path != "/etc/a" || f.Partition != "3" || f.Mode == nil || *f.Mode != 0o644 || f.Owner == nil || *f.Owner != -1 || f.Group != nil || f.DirMode != nil {
		t.Errorf("file = %+v", f)
	}
}

func TestExpandURL(t *testing.T) {
	node := map[string]any{"uuid": "abc", "properties": map[string]any{"cpus": 4.0}, "extra": map[string]any{"list": []any{"x"}}}
	ports := []map[string]any{{"address": "52:54:00:12:34:56"}}
	for in, want := range map[string]string{
		"http://h/{node[uuid]}/cfg":                 "http://h/abc/cfg",
		"http://h/{node[properties][cpus]}":         "http://h/4",
		"http://h/{ports[0][address]}":              "http://h/52:54:00:12:34:56",
		"http://h/{{literal}}":                      "http://h/{literal}",
		"http://h/plain":                            "http://h/plain",
		"http://h/{node[uuid]}-{ports[0][address]}": "http://h/abc-52:54:00:12:34:56",
	} {
		if got, err := expandURL(in, node, ports); err != nil || got != want {
			t.Errorf("expandURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"http://h/{node[nope]}", "http://h/{ports[1][address]}", "http://h/{other}", "http://h/{node[uuid]",
		"http://h/}", "http://h/{node[properties]}", "http://h/{node.uuid}"} {
		if got, err := expandURL(bad, node, ports); !errors.Is(err, ErrTemplate) {
			t.Errorf("expandURL(%q) = %q, %v; want ErrTemplate", bad, got, err)
		}
	}
}
