package mdadm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Detail is an active array as `mdadm --detail --export` reports it.
type Detail struct {
	Level    string // "raid1", "raid10", …
	Devices  int    // raid devices the array is built for
	Metadata string // "1.2", "1.0"
	UUID     string
	DevName  string // the /dev/md/ name ("root"), or "" for a bare number
	Name     string // the name in the superblock ("any:root")
	Members  []Member
}

// Member is one component device of an array.
type Member struct {
	Dev  string // "/dev/vda2"
	Role string // slot number "0", "1", …, or "spare", "faulty", "journal"
}

// Superblock is what `mdadm --examine --export` reads from a member.
type Superblock struct {
	Level   string
	Devices int
	Name    string
	UUID    string // the array's UUID
	DevUUID string // this member's UUID
}

// Detail describes a running array.
func (t *Tool) Detail(ctx context.Context, array string) (*Detail, error) {
	dev := t.Path(array)
	out, err := t.run(ctx, "--detail", "--export", dev)
	if err != nil {
		if strings.Contains(stderrOf(err), "does not appear to be an md device") {
			return nil, fmt.Errorf("mdadm detail %s: %w", dev, ErrNotMD)
		}
		return nil, fmt.Errorf("mdadm detail %s: %w", dev, err)
	}
	return parseDetail(out)
}

// Examine reads the md superblock of a member device; ErrNoSuperblock when
// there is none (other metadata such as a partition table does not count).
func (t *Tool) Examine(ctx context.Context, dev string) (*Superblock, error) {
	out, err := t.run(ctx, "--examine", "--export", dev)
	if err != nil {
		if strings.Contains(stderrOf(err), "No md superblock detected") {
			return nil, fmt.Errorf("%s: %w", dev, ErrNoSuperblock)
		}
		return nil, fmt.Errorf("mdadm examine %s: %w", dev, err)
	}
	kv := parseExport(out)
	// A GPT or MBR disk exits 0 with no md keys.
	if kv["MD_UUID"] == "" {
		return nil, fmt.Errorf("%s: %w", dev, ErrNoSuperblock)
	}
	n, _ := strconv.Atoi(kv["MD_DEVICES"])
	return &Superblock{Level: kv["MD_LEVEL"], Devices: n, Name: kv["MD_NAME"], UUID: kv["MD_UUID"], DevUUID: kv["MD_DEV_UUID"]}, nil
}

// parseExport reads mdadm's KEY=VALUE lines. Values are shell-quoted only
// when they hold odd characters; the quotes are stripped.
func parseExport(b []byte) map[string]string {
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || k == "" {
			continue
		}
		if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		kv[k] = v
	}
	return kv
}

var errDetail = errors.New("mdadm detail: unexpected output")

func parseDetail(b []byte) (*Detail, error) {
	kv := parseExport(b)
	if kv["MD_LEVEL"] == "" || kv["MD_UUID"] == "" {
		return nil, fmt.Errorf("%w: no MD_LEVEL/MD_UUID in %q", errDetail, b)
	}
	d := &Detail{Level: kv["MD_LEVEL"], Metadata: kv["MD_METADATA"], UUID: kv["MD_UUID"], DevName: kv["MD_DEVNAME"], Name: kv["MD_NAME"]}
	if s := kv["MD_DEVICES"]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("%w: MD_DEVICES=%q", errDetail, s)
		}
		d.Devices = n
	}
	// MD_DEVICE_<key>_ROLE and MD_DEVICE_<key>_DEV, where <key> is the
	// member path with '/' turned into '_' (dev_vda2).
	members := map[string]*Member{}
	for k, v := range kv {
		rest, ok := strings.CutPrefix(k, "MD_DEVICE_")
		if !ok {
			continue
		}
		var key string
		var role bool
		if key, ok = strings.CutSuffix(rest, "_ROLE"); ok {
			role = true
		} else if key, ok = strings.CutSuffix(rest, "_DEV"); !ok {
			continue
		}
		m := members[key]
		if m == nil {
			m = &Member{}
			members[key] = m
		}
		if role {
			m.Role = v
		} else {
			m.Dev = v
		}
	}
	for _, m := range members {
		d.Members = append(d.Members, *m)
	}
	sort.Slice(d.Members, func(i, j int) bool {
		ri, ei := strconv.Atoi(d.Members[i].Role)
		rj, ej := strconv.Atoi(d.Members[j].Role)
		switch {
		case ei == nil && ej == nil && ri != rj:
			return ri < rj
		case (ei == nil) != (ej == nil):
			return ei == nil // slots before spares
		}
		return d.Members[i].Dev < d.Members[j].Dev
	})
	return d, nil
}
