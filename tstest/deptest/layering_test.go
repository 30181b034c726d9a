// Package deptest holds the tests that keep goipa's package graph one-way
// (in the spirit of Tailscale's tstest/deptest): API → command runner →
// domain packages → disk, and test support never in the agent.
package deptest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/goipa/goipa/"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// graph lists every package of the module with its non-test imports and
// its transitive dependencies.
func graph(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,Deps", mod+"...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	g := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		g[strings.TrimPrefix(p.ImportPath, mod)] = p
	}
	if len(g) < 30 || g["cmd/goipa"].ImportPath == "" {
		t.Fatalf("go list gave %d packages, not goipa's", len(g))
	}
	return g
}

func under(path string, roots ...string) bool {
	for _, r := range roots {
		if path == r || strings.HasPrefix(path, r+"/") {
			return true
		}
	}
	return false
}

// ours returns the module's packages among paths, without the module prefix.
func ours(paths []string) []string {
	var out []string
	for _, p := range paths {
		if strings.HasPrefix(p, mod) {
			out = append(out, strings.TrimPrefix(p, mod))
		}
	}
	return out
}

// domain are the packages that do the work; they know nothing of the agent
// or of the conductor's contract.
var domain = []string{"hardware", "image", "raid"}

// testSupport is what only tests (and goipactl's stand-in conductor) link.
var testSupport = []string{"tstest", "e2e", "qemu", "internal/ctl"}

func TestDomainImportsNeitherAgentNorContract(t *testing.T) {
	for path, p := range graph(t) {
		if !under(path, domain...) {
			continue
		}
		for _, d := range ours(p.Deps) {
			if under(d, "agent", "ipa", "cmd") || under(d, testSupport...) {
				t.Errorf("%s depends on %s", path, d)
			}
		}
	}
}

func TestContractIsALeaf(t *testing.T) {
	if deps := ours(graph(t)["ipa"].Deps); len(deps) != 0 {
		t.Errorf("ipa depends on %v", deps)
	}
}

// TestTestSupportApart: no production package imports test support; only
// tests, the suites and goipactl (whose conductor is the fake one) do.
func TestTestSupportApart(t *testing.T) {
	for path, p := range graph(t) {
		if under(path, testSupport...) || path == "cmd/goipactl" {
			continue
		}
		for _, d := range ours(p.Imports) {
			if under(d, testSupport...) {
				t.Errorf("%s imports %s", path, d)
			}
		}
	}
}

// TestAgentLinksNoTestSupport: the binary shipped in the ramdisk links no
// fake, harness or test package of the standard library.
func TestAgentLinksNoTestSupport(t *testing.T) {
	for _, d := range graph(t)["cmd/goipa"].Deps {
		if under(strings.TrimPrefix(d, mod), testSupport...) || d == "testing" || d == "net/http/httptest" {
			t.Errorf("cmd/goipa links %s", d)
		}
	}
}
